"""The built wheel, installed in a fresh venv outside the checkout: the command, the checks, the migrations.

Lean on purpose: the wheel is built offline with this environment's setuptools and installed with
--no-deps; its runtime dependencies are lent from this environment (the closure of the wheel's own
Requires-Dist, linked into a folder the new venv reads), so nothing is downloaded or reinstalled, and
test-only packages (hypothesis, pytest-xdist, selenium) are absent there as in a user's install.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import CHECKOUT
from tests.listener import listening
from tests.pg import ScratchServer

pytestmark = pytest.mark.slow

# What the checkout holds besides its sources: never copied into the build.
NOT_SOURCES = shutil.ignore_patterns(".venv", ".git", "build", "dist", "reports", "*.egg-info",
                                     "__pycache__", ".*_cache", ".hypothesis", "node_modules")
SHIPPED = ("pytest.ini", "checks/*.py", "migrations/*.sql", "fixtures/demo.sql",
           "fixtures/demo-layouts/*.sql", "fixtures/layouts/*/schema.sql", "cassettes/demo.yaml")
# The demo's planted defects (fixtures/README.md), database and broker.
DEMO_TYPES = {"CYCLE_STALE", "WRONG_ORDER_SIDE", "ORDER_PURPOSE_MISSING", "STUCK_ORDER", "UNLINKED_ORDER",
              "UNKNOWN_ORDER_STATUS", "STALE_POSITION_DATA", "PHANTOM_POSITION", "ORPHAN_POSITION",
              "QTY_MISMATCH", "ORDER_STATUS_MISMATCH", "ORDER_NOT_FOUND", "ORDER_NOT_IN_DB"}


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def _clean_env() -> dict[str, str]:
    """This environment without the settings of tradewatch, pytest or Python's path."""
    return {key: value for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV")
            and not key.startswith(("TRADEWATCH_", "PYTEST_"))}


def _wanted(requirement: Requirement, extras: set[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *extras})


def runtime_closure(requires: list[str]) -> list[Distribution]:
    """This environment's distributions that the requirements need, transitively (no extras of their own)."""
    found: dict[str, Distribution] = {}
    visited: set[tuple[str, str]] = set()
    todo = [Requirement(line) for line in requires if _wanted(Requirement(line), set())]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        if (name, ",".join(extras)) in visited:
            continue
        visited.add((name, ",".join(extras)))
        dist = found.setdefault(name, distribution(name))
        todo += [Requirement(line) for line in dist.requires or []
                 if _wanted(Requirement(line), set(extras))]
    return list(found.values())


def lend(dists: list[Distribution], venv: Path) -> None:
    """Make the distributions importable in the venv: their top-level entries, linked into one folder."""
    lent = venv / "lent"
    lent.mkdir()
    for dist in dists:
        assert dist.files is not None, f"{dist.metadata['Name']} lists no files"
        root = Path(str(dist.locate_file("")))
        for top in {file.parts[0] for file in dist.files if file.parts[0] != ".."}:
            if not (lent / top).exists():
                (lent / top).symlink_to(root / top)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / version / "site-packages" / "lent.pth").write_text(f"{lent}\n")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout's sources (the checkout itself is left untouched)."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(CHECKOUT, work / "source", ignore=NOT_SOURCES)
    done = _run([sys.executable, "-m", "pip", "wheel", str(work / "source"), "--no-deps", "--no-index",
                 "--no-build-isolation", "--quiet", "--wheel-dir", str(work / "dist")])
    assert done.returncode == 0, done.stderr
    [built] = (work / "dist").glob("tradewatch-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout holding the wheel, and the runtime dependencies only."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert done.returncode == 0, done.stderr
    done = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                 "--no-deps", "--no-index", "--no-compile", "--quiet", str(wheel)])
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(archive.read(metadata)).get_all("Requires-Dist") or []
    lend(runtime_closure(requires), venv)
    return venv


def test_the_wheel_ships_the_checkouts_files_once(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.removeprefix("tradewatch/shipped/"): archive.read(name) for name in archive.namelist()
                   if name.startswith("tradewatch/shipped/")}
        [entry_points] = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        assert "[pytest11]\ntradewatch.plugin = tradewatch.plugin\n" in archive.read(entry_points).decode()
    expected = {str(path.relative_to(CHECKOUT)): path.read_bytes()
                for pattern in SHIPPED for path in CHECKOUT.glob(pattern)}
    assert shipped == expected
    assert "seeds" not in str(sorted(shipped))


def test_the_venv_runs_the_package_without_test_only_packages(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "tradewatch"), "--version"], cwd=tmp_path, env=_clean_env())
    assert (done.returncode, done.stdout) == (0, "tradewatch 0.1.0\n"), done.stderr
    where = "import tradewatch.resources as r; print(r.ROOT)"
    done = _run([str(venv / "bin" / "python"), "-c", where], cwd=tmp_path, env=_clean_env())
    assert Path(done.stdout.strip()).is_relative_to(venv), done.stderr
    assert done.stdout.strip().endswith("site-packages/tradewatch/shipped")
    for test_only in ("hypothesis", "xdist", "selenium"):
        done = _run([str(venv / "bin" / "python"), "-c", f"import {test_only}"], cwd=tmp_path,
                    env=_clean_env())
        assert "ModuleNotFoundError" in done.stderr, test_only


def test_check_runs_the_embedded_demo_from_any_folder(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "tradewatch"), "check", "-p", "no:cacheprovider"],
                cwd=tmp_path, env=_clean_env())
    # Findings fail the run (pytest's exit 1); nothing errored, and no warning was raised.
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "DEMO data" in done.stdout
    assert " error" not in done.stdout.splitlines()[-1]
    assert "warning" not in done.stdout.splitlines()[-1], done.stdout
    report_path = tmp_path / "reports" / "tradewatch.json"
    report = json.loads(report_path.read_text())
    assert report["tradewatch"]["demo"] is True
    assert all(test["nodeid"].startswith("checks/test_") for test in report["tests"])
    found = {finding["type"] for test in report["tests"] for finding in test["metadata"].get("findings", [])}
    assert found >= DEMO_TYPES
    summary = _run([str(venv / "bin" / "tradewatch"), "summary", str(report_path)], cwd=tmp_path,
                   env=_clean_env())
    assert summary.returncode == 2, summary.stderr
    assert json.loads(summary.stdout)["summary"]["status"] == "CRITICAL"


def test_check_writes_its_report_with_entry_points_turned_off(venv: Path, tmp_path: Path) -> None:
    # No plugin loads by its entry point then: tradewatch check names its plugin, which loads the report's.
    done = _run([str(venv / "bin" / "tradewatch"), "check", "-p", "no:cacheprovider", "-m", "not broker"],
                cwd=tmp_path, env={**_clean_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "tradewatch.json").read_text())
    assert report["tradewatch"]["demo"] is True
    assert "error" not in report["tradewatch"]
    assert {test["outcome"] for test in report["tests"]} == {"passed", "failed", "skipped"}


def test_check_runs_the_demo_in_a_later_layout(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "tradewatch"), "check", "-p", "no:cacheprovider",
                 "--profile=catalyst-2026-04"], cwd=tmp_path, env=_clean_env())
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "tradewatch.json").read_text())
    assert (report["tradewatch"]["demo"], report["tradewatch"]["profile"]) == (True, "catalyst-2026-04")
    assert not [test for test in report["tests"] if test["outcome"] == "error"]


def test_migrate_finds_the_packages_migrations(venv: Path, tmp_path: Path, pg_server: ScratchServer) -> None:
    url = pg_server.create()
    done = _run([str(venv / "bin" / "tradewatch"), "migrate", "status", f"--database-url={url}"],
                cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stderr
    ids = sorted(path.name.removesuffix(".sql") for path in (CHECKOUT / "migrations").glob("*.sql")
                 if not path.name.endswith(".rollback.sql"))
    assert done.stdout.splitlines() == [f"pending  {migration}" for migration in ids]


def test_the_plugin_is_inert_in_another_project_of_the_venv(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "test_thing.py").write_text("def test_thing():\n    assert True\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    with listening() as database:
        done = _run([str(venv / "bin" / "python"), "-m", "pytest", "checks", "-p", "no:cacheprovider"],
                    cwd=tmp_path, env={**_clean_env(), "DATABASE_URL": database.url})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tradewatch-0.1.0" in done.stdout  # Loaded by its entry point...
    assert done.stdout.splitlines()[-1].strip("= ").startswith("1 passed in ")  # ...it warned of nothing,
    assert database.connections == 0  # ...opened nothing,
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checks", "pytest.ini"]  # ...wrote nothing.


def test_the_checkouts_conftest_and_the_entry_point_register_the_plugin_once(
    venv: Path, tmp_path: Path,
) -> None:
    # The installed package with a checkout's checks: its conftest.py asks for tradewatch.plugin,
    # which the entry point registered first under that name, so pytest skips the request.
    with listening() as database:
        done = _run([str(venv / "bin" / "python"), "-m", "pytest", str(CHECKOUT / "checks"), "--collect-only",
                     "-q", "-p", "no:cacheprovider", f"--database-url={database.url}"],
                    cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].split()[1:3] == ["tests", "collected"]
    assert database.connections == 0

"""The package as installed: one plugin registration, the version, `tradewatch check` from any folder,
resources found in the checkout, and test-only packages kept out of the runtime dependencies."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib.metadata import entry_points, packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tradewatch.plugin
from tests.conftest import CHECKOUT
from tradewatch import demo, migrate, resources

TRADEWATCH = Path(sys.executable).with_name("tradewatch")


def _clean_env() -> dict[str, str]:
    """This environment without tradewatch's settings, so a run sees only what a test passes."""
    return {key: value for key, value in os.environ.items()
            if key != "DATABASE_URL" and not key.startswith(("TRADEWATCH_", "PYTEST_"))}


def test_the_plugin_is_registered_once_under_its_entry_point_name(pytestconfig: pytest.Config) -> None:
    [entry] = entry_points(group="pytest11", name="tradewatch.plugin")
    assert entry.value == "tradewatch.plugin"  # The name is the module's...
    tree = ast.parse((CHECKOUT / "conftest.py").read_text())
    [requested] = [ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "pytest_plugins"]
    assert "tradewatch.plugin" in requested  # ...which the checkout's conftest.py asks for too,
    manager = pytestconfig.pluginmanager
    loaded_by = [dist.project_name for plugin, dist in manager.list_plugin_distinfo()
                 if plugin is tradewatch.plugin]
    assert loaded_by == ["tradewatch"]  # ...the entry point loaded it first,
    names = [name for name, plugin in manager.list_name_plugin() if plugin is tradewatch.plugin]
    assert names == ["tradewatch.plugin"]  # ...and pytest skipped the conftest's request.


def test_version_prints_the_installed_version() -> None:
    done = subprocess.run([str(TRADEWATCH), "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"tradewatch {version('tradewatch')}\n", "")


def test_resources_are_the_checkouts_own_folders() -> None:
    assert resources.ROOT == CHECKOUT
    assert migrate.migrations_dir() == CHECKOUT / "migrations"
    assert demo.DEMO_SQL == CHECKOUT / "fixtures" / "demo.sql"
    assert demo.DEMO_CASSETTE == CHECKOUT / "cassettes" / "demo.yaml"
    assert resources.INI == CHECKOUT / "pytest.ini"
    assert resources.CHECKS == CHECKOUT / "checks"
    # The build copies these into the package; a checkout holds no second copy.
    assert not resources.SHIPPED.exists()


def test_only_a_tradewatch_checkout_lends_its_checks_folder(tmp_path: Path) -> None:
    other, copy = tmp_path / "other", tmp_path / "copy"
    other.mkdir()
    copy.mkdir()
    (other / "pyproject.toml").write_text('[project]\nname = "other"\n')
    (copy / "pyproject.toml").write_text((CHECKOUT / "pyproject.toml").read_text())
    assert copy / "checks" in resources.checks_folders(copy)
    assert other / "checks" not in resources.checks_folders(other)
    assert not resources.is_checkout(tmp_path)  # No pyproject.toml at all.
    (tmp_path / "pyproject.toml").write_text("not = [toml")
    assert not resources.is_checkout(tmp_path)


def test_check_runs_the_checks_from_any_folder_and_exits_with_pytests_code(
    tmp_path: Path, seeded_db: Callable[..., str],
) -> None:
    url = seeded_db("clean", "stuck_new")
    done = subprocess.run(
        [str(TRADEWATCH), "check", f"--database-url={url}", "-m", "not broker",
         "--as-of=2025-12-31T11:00:00-05:00", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    # Rooted here, with the checks' own ini settings (markers, thresholds, options).
    assert f"rootdir: {tmp_path}" in done.stdout
    [ini] = [line.removeprefix("configfile: ") for line in done.stdout.splitlines()
             if line.startswith("configfile: ")]
    assert (tmp_path / ini).resolve() == CHECKOUT / "pytest.ini"
    report = json.loads((tmp_path / "reports" / "tradewatch.json").read_text())
    failed = {test["nodeid"].rsplit("/", 1)[-1] for test in report["tests"] if test["outcome"] == "failed"}
    assert failed == {"test_orders.py::test_no_stuck_orders[new]"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reports"]


def test_the_checkout_writes_its_report_with_entry_points_turned_off(
    tmp_path: Path, seeded_db: Callable[..., str],
) -> None:
    """pytest checks/ with PYTEST_DISABLE_PLUGIN_AUTOLOAD: the conftest's plugin loads the report's."""
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/", f"--database-url={seeded_db('clean', 'stuck_new')}",
         "-m", "not broker", "--as-of=2025-12-31T11:00:00-05:00", "-p", "no:cacheprovider",
         f"--tradewatch-report={report_path}"],
        cwd=CHECKOUT, env={**_clean_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    failed = {test["nodeid"] for test in report["tests"] if test["outcome"] == "failed"}
    assert failed == {"checks/test_orders.py::test_no_stuck_orders[new]"}


def test_check_passes_a_usage_error_through_as_pytests(tmp_path: Path) -> None:
    done = subprocess.run([str(TRADEWATCH), "check", "--no-such-option"], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --no-such-option" in done.stderr
    assert not (tmp_path / "reports").exists()


def _imported(folder: Path) -> set[str]:
    """The top-level names the Python files of a folder import."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_test_only_packages_are_no_runtime_dependencies() -> None:
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    runtime = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    dev = {canonicalize_name(Requirement(line).name) for line in project["optional-dependencies"]["dev"]}
    used = _imported(CHECKOUT / "tradewatch") | _imported(CHECKOUT / "checks")
    test_only = _imported(CHECKOUT / "tests") - used
    distributions = packages_distributions()
    test_only_dists = {canonicalize_name(dist) for name in test_only for dist in distributions.get(name, [])}
    assert "hypothesis" in test_only_dists  # The check has something to check.
    assert test_only_dists & runtime == set()
    assert {"hypothesis", "pytest-xdist", "selenium"} <= dev

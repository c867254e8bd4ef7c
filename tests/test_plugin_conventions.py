"""The plugin keeps pytest's conventions: no xdist, a listing opens nothing, warnings never fail a check,
and other projects' runs are left alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, RunChecks
from tests.listener import listening

GREEN_REPORT = json.dumps({"exitcode": 0, "summary": {"passed": 45, "total": 45}, "tests": []})


@pytest.mark.parametrize("spread", [["-n", "2"], ["-n", "1"], ["--dist", "load", "-n", "2"]],
                         ids=["n2", "n1", "dist-load"])
def test_xdist_is_refused_in_one_line_and_no_green_report_is_left(
    pytester: pytest.Pytester, tmp_path: Path, spread: list[str],
) -> None:
    report = tmp_path / "report.json"
    report.write_text(GREEN_REPORT)  # The last run's, all green.
    with listening() as database:
        result = pytester.runpytest_inprocess(
            str(CHECKS_DIR), *spread, f"--database-url={database.url}", f"--tradewatch-report={report}",
            *QUICK_RUN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = [line for line in result.errlines if line.strip()]
    assert len(said) == 1, result.errlines
    assert said[0].startswith("ERROR: tradewatch: the checks cannot run under pytest-xdist")
    assert "reads each table once" in said[0]
    assert "one broker snapshot" in said[0]
    assert not report.exists()  # Nothing on disk says green: summary reads a missing report as ERROR.
    assert database.connections == 0


def test_xdist_with_no_workers_is_a_plain_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with listening() as database:
        result = pytester.runpytest_inprocess(
            str(CHECKS_DIR), "-n", "0", "-m", "schema", f"--database-url={database.url}",
            f"--tradewatch-report={tmp_path / 'report.json'}", *QUICK_RUN)
    # -n 0 runs in this process: the run starts (here on a port that is no database) as usual.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert database.connections >= 1


def test_collect_only_opens_no_database_and_keeps_the_last_report(
    pytester: pytest.Pytester, tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    report.write_text(GREEN_REPORT)
    with listening() as database:
        result = pytester.runpytest_inprocess(
            str(CHECKS_DIR), "--collect-only", "-q", f"--database-url={database.url}",
            f"--tradewatch-report={report}", *QUICK_RUN)
    assert result.ret == pytest.ExitCode.OK
    assert database.connections == 0
    assert re.fullmatch(r"\d+ tests collected in .*", result.outlines[-1])
    assert not [line for line in result.outlines if line.startswith(("ERROR", "E "))]
    assert result.errlines == []
    assert report.read_text() == GREEN_REPORT  # A listing is no run: the last run's report stays.


NOISY_DEPENDENCY = '''
import warnings

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    warnings.warn("noisy_dependency.old_api is deprecated", DeprecationWarning, stacklevel=1)
    return (yield)
'''


def test_a_dependency_warning_never_fails_a_check(
    pytester: pytest.Pytester, seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    pytester.makepyfile(noisy_dependency=NOISY_DEPENDENCY)
    pytester.syspathinsert()
    result, report = run_checks(seeded_db("clean"), "-m", "not broker", "-p", "noisy_dependency")
    outcomes = result.parseoutcomes()
    assert outcomes.get("warnings", 0) >= 25  # One per check that ran: the warning was raised.
    assert set(outcomes) == {"passed", "skipped", "deselected", "warnings"}
    assert {test["outcome"] for test in report["tests"]} == {"passed", "skipped"}


def test_the_self_tests_still_turn_warnings_into_errors() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn("an old API", DeprecationWarning, stacklevel=1)


def test_the_plugin_is_inert_in_another_project(tmp_path: Path) -> None:
    project = tmp_path / "other"
    (project / "checks").mkdir(parents=True)
    # A project whose warnings are errors: nothing the plugin's imports warn about may reach it.
    (project / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1.0"\n\n'
                                            '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    (project / "checks" / "test_thing.py").write_text("def test_thing():\n    assert 1 + 1 == 2\n")
    with listening() as database:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("TRADEWATCH_", "PYTEST_"))}
        # A database set for that project, and a tradewatch setting tradewatch could not use.
        env.update(DATABASE_URL=database.url, TRADEWATCH_STATEMENT_TIMEOUT="soon")
        done = subprocess.run([sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [plugins] = [line for line in done.stdout.splitlines() if line.startswith("plugins:")]
    assert "tradewatch-" in plugins  # Loaded by its entry point, and quiet:
    assert done.stdout.splitlines()[-1].strip("= ").startswith("1 passed in ")  # No warning either.
    assert "tradewatch" not in done.stdout.replace(plugins, "")
    assert database.connections == 0
    assert sorted(path.name for path in project.iterdir()) == ["checks", "pyproject.toml"]

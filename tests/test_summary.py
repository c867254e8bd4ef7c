"""tradewatch summary: the old watchdog's JSON shape and exit codes, from real reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHECKOUT, RunChecks
from tests.pg import run_sql_file
from tradewatch import cli, demo, report

WATCHDOG_KEYS = {"timestamp", "duration_ms", "pipeline", "issues", "summary"}
SUMMARY_KEYS = {"total_issues", "critical", "warnings", "info", "acknowledged", "status"}


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def summarize(
    capsys: pytest.CaptureFixture[str], path: Path | str, *args: str
) -> tuple[int, dict[str, Any], list[str]]:
    """Run `tradewatch summary`; return its exit code, its JSON and its stderr lines."""
    capsys.readouterr()  # Drop what an in-process checks run printed.
    code = cli.main(["summary", str(path), *args])
    out, err = capsys.readouterr()
    return code, json.loads(out), err.splitlines()


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    """Save an edited report next to the test's other files."""
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def report_path(tmp_path: Path) -> Path:
    return tmp_path / "report.json"  # Where run_checks has pytest write the report.


def test_clean_desk_is_ok(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    code, summary, err = summarize(capsys, report_path(tmp_path))
    assert (code, summary["summary"]["status"], err) == (0, "OK", [])
    assert set(summary) >= WATCHDOG_KEYS
    assert set(summary["summary"]) == SUMMARY_KEYS
    assert summary["errors"] == []
    assert summary["timestamp"] == data["tradewatch"]["as_of"]
    assert summary["duration_ms"] == round(data["duration"] * 1000)
    assert summary["pipeline"] == data["tradewatch"]["pipeline"]
    assert summary["pipeline"]["cycle_id"] == "20251231-001"


def test_demo_desk_is_critical_and_lists_every_finding(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    code, summary, _ = summarize(capsys, report_path(tmp_path), "--pretty")
    findings = [(test["nodeid"], f) for test in data["tests"] for f in test["metadata"].get("findings", [])]
    assert code == 2
    assert summary["summary"]["status"] == "CRITICAL"
    assert [{**f, "check": nodeid} for nodeid, f in findings] == summary["issues"]
    counts = summary["summary"]
    assert counts["total_issues"] == len(findings) == counts["critical"] + counts["warnings"] + counts["info"]
    assert counts["info"] >= 1  # INFO findings are issues too, as in the watchdog.
    assert capsys.readouterr() == ("", "")


def test_warnings_only_is_warning(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_checks(demo_db, "-m", "not broker", "-k", "stuck or purpose_set")
    code, summary, err = summarize(capsys, report_path(tmp_path))
    assert (code, summary["summary"]["status"], err) == (1, "WARNING", [])
    assert summary["summary"]["warnings"] >= 2
    assert summary["summary"]["critical"] == 0


def test_a_check_that_could_not_run_is_an_error(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = seeded_db("clean", "cycles_table_dropped")
    run_checks(url, "-m", "not broker")
    code, summary, err = summarize(capsys, report_path(tmp_path))
    assert (code, summary["summary"]["status"]) == (3, "ERROR")
    assert summary["errors"]
    assert all("could not run" in line for line in summary["errors"])
    assert len(err) == 1
    assert err[0].startswith("tradewatch summary: ERROR: ")
    assert "could not run" in err[0]


def test_no_check_ran_is_an_error(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_checks(seeded_db("clean"), "-k", "no_such_check")
    code, summary, err = summarize(capsys, report_path(tmp_path))
    assert code == 3
    assert "the run did not complete: pytest exit code 5 (no tests collected)" in summary["errors"]
    assert "no check ran" in summary["errors"]
    assert len(err) == 1


def test_an_interrupted_run_is_an_error(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    data["exitcode"] = 2  # What pytest writes after Ctrl-C or pytest.exit.
    code, summary, _ = summarize(capsys, write(tmp_path, data))
    assert code == 3
    assert summary["errors"] == ["the run did not complete: pytest exit code 2 (interrupted)"]


def test_a_failure_without_a_finding_is_an_error(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    test = data["tests"][0]
    test["outcome"] = "failed"  # A bug in a check: an assertion that is not a findings failure.
    test["call"] = {"outcome": "failed", "crash": {"message": "AssertionError: assert 1 == 2\nmore"}}
    code, summary, err = summarize(capsys, write(tmp_path, data))
    assert code == 3
    assert summary["errors"] == [f"{test['nodeid']} failed without a finding: AssertionError: assert 1 == 2"]
    assert len(err) == 1


@pytest.mark.parametrize(
    ("content", "said"),
    [(None, "no report at"), ("{not json", "is not JSON"),
     ('{"tests": []}', "is not a tradewatch checks report")],
    ids=["missing", "not-json", "not-a-report"],
)
def test_an_unreadable_report_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, said: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    code, summary, err = summarize(capsys, path)
    assert code == 3
    assert summary["status"] == "ERROR"
    assert said in summary["error"]
    assert len(err) == 1
    assert said in err[0]


def test_a_stale_report_is_an_error_with_max_age(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    assert summarize(capsys, report_path(tmp_path), "--max-age", "10")[0] == 0
    data["created"] -= 3600
    code, summary, _ = summarize(capsys, write(tmp_path, data), "--max-age", "10")
    assert code == 3
    assert "min old (limit 10)" in summary["errors"][0]


def test_console_script_exits_with_the_status(
    demo_db: str, run_checks: RunChecks, tmp_path: Path
) -> None:
    run_checks(demo_db, "-m", "not broker")
    done = subprocess.run(
        [sys.executable, "-m", "tradewatch.cli", "summary", str(report_path(tmp_path)), "--pretty"],
        capture_output=True, text=True, cwd=CHECKOUT, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("{\n  ")
    assert json.loads(done.stdout)["summary"]["status"] == "CRITICAL"


V2_KEYS = {"timestamp", "status", "version", "orders", "positions", "daily_pnl", "stuck_orders",
           "unlinked_orders", "alpaca", "issues", "issue_summary"}
DESK = {"orders": {"filled": 12, "new": 3, "cancelled": 1}, "positions": {"open": 4, "closed": 9},
        "daily_pnl": -125.5}


def of_type(summary: dict[str, Any], finding_type: str) -> int:
    return sum(1 for issue in summary["issues"] if issue["type"] == finding_type)


def test_v2_carries_the_desk_and_broker_figures_of_the_report(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    data["tradewatch"]["desk"] = DESK
    data["tradewatch"]["broker"] = {"mode": "replay", "open_orders": 7, "open_positions": 5}
    edited = write(tmp_path, data)
    _, v1, _ = summarize(capsys, edited)
    code, v2, err = summarize(capsys, edited, "--format", "v2")
    assert (code, err) == (2, [])
    assert set(v2) == V2_KEYS
    assert v2["status"] == "CRITICAL"
    assert v2["timestamp"] == data["tradewatch"]["as_of"]
    assert v2["version"] == data["tradewatch"]["version"]
    assert (v2["orders"], v2["positions"], v2["daily_pnl"]) == (DESK["orders"], DESK["positions"], -125.5)
    assert v2["alpaca"] == {"open_orders": 7, "open_positions": 5}
    assert v2["stuck_orders"] == of_type(v1, "STUCK_ORDER") > 0
    assert v2["unlinked_orders"] == of_type(v1, "UNLINKED_ORDER") > 0
    assert v2["issues"] == v1["issues"]
    assert v2["issue_summary"] == {"critical": v1["summary"]["critical"],
                                   "warning": v1["summary"]["warnings"], "total": len(v1["issues"]),
                                   "acknowledged": 0}


def test_v2_says_null_for_what_the_report_does_not_carry(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    # The demo's day (2025-12-31) as the table reads saw it; the broker was not asked.
    code, v2, _ = summarize(capsys, report_path(tmp_path), "--format", "v2")
    assert code == 2
    assert v2["orders"] == {"filled": 7, "held": 2, "new": 2, "submitted": 1, "OrderStatus.NEW": 1,
                            "created": 1, "canceled": 1}
    assert (v2["positions"], v2["daily_pnl"]) == ({"open": 4, "closed": 1}, 216)
    assert v2["alpaca"] == {"open_orders": None, "open_positions": None}
    del data["tradewatch"]["desk"]
    report_path(tmp_path).write_text(json.dumps(data))
    code, v2, _ = summarize(capsys, report_path(tmp_path), "--format", "v2")
    assert code == 2
    assert set(v2) == V2_KEYS
    assert (v2["orders"], v2["positions"], v2["daily_pnl"]) == (None, None, None)


@pytest.mark.parametrize(("seeds", "args", "status", "code"), [
    (["clean"], ["-m", "not broker"], "HEALTHY", 0),
    (["clean", "stuck_new"], ["-m", "not broker", "-k", "stuck"], "WARNING", 1),
    (["clean", "unlinked_entry"], ["-m", "not broker"], "CRITICAL", 2),
    (["clean", "cycles_table_dropped"], ["-m", "not broker"], "ERROR", 3),
], ids=["healthy", "warning", "critical", "error"])
def test_v2_exits_as_v1_does(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    seeds: list[str], args: list[str], status: str, code: int,
) -> None:
    run_checks(seeded_db(*seeds), *args)
    v1_code, _, _ = summarize(capsys, report_path(tmp_path))
    v2_code, v2, err = summarize(capsys, report_path(tmp_path), "--format", "v2")
    assert (v1_code, v2_code, v2["status"]) == (code, code, status)
    if status == "ERROR":
        assert set(v2) == V2_KEYS | {"error"}
        assert "could not run" in v2["error"]
        assert err == [f"tradewatch summary: ERROR: {v2['error']}"]
        # A check that could not run may have had findings: no count is given for it.
        assert (v2["stuck_orders"], v2["unlinked_orders"]) == (None, None)
    else:
        assert set(v2) == V2_KEYS
        assert err == []


def test_v2_counts_are_null_when_the_cap_left_findings_out(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stale P&L on a Saturday: more findings in one check than the cap lets through.
    _, data = run_checks(demo_db, "-m", "not broker", "-k", "pnl", "--findings-cap=1",
                         as_of="2026-01-03T11:00:00-05:00")
    assert report.omitted(data) > 0
    code, v2, _ = summarize(capsys, report_path(tmp_path), "--format", "v2")
    assert code == 0
    assert (v2["stuck_orders"], v2["unlinked_orders"]) == (None, None)
    assert v2["issue_summary"]["total"] == len(v2["issues"])


def test_v2_of_an_unreadable_report_is_the_watchdogs_error_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, v2, err = summarize(capsys, tmp_path / "missing.json", "--format", "v2")
    assert code == 3
    assert set(v2) == {"timestamp", "status", "error", "issues"}
    assert (v2["status"], v2["issues"]) == ("ERROR", [])
    assert "no report at" in v2["error"]
    assert len(err) == 1


def test_the_error_line_stays_one_line_whatever_the_report_holds(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    test = data["tests"][0]
    test.update(outcome="error", nodeid="checks/x.py::y[\x1b[2J\nOK all good]",
                metadata={"error": "check could not run:\u2028\x1b]0;title\x07" + "z" * 5000})
    code, summary, err = summarize(capsys, write(tmp_path, data))
    assert code == 3
    assert len(err) == 1
    assert "y[\\x1b[2J\\nOK all good]" in err[0]
    assert "\\x1b]0;title\\x07" in err[0]
    assert len(err[0]) < 600
    assert summary["errors"][0] in err[0]

"""Acknowledged findings and per-rule settings: tolerated findings stop failing until they expire or
change; a rule's severity and thresholds are set per rule."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.conftest import RunChecks, findings_of
from tests.pg import run_sql_file
from tradewatch import alerting, catalogue, cli, demo, report
from tradewatch.acks import Ack
from tradewatch.findings import Finding, state_of
from tradewatch.judging import Judge

PURPOSE = "test_orders.py::test_order_purpose_set"
STUCK = "test_orders.py::test_no_stuck_orders[created]"
AS_OF = "2025-12-31T11:00:00-05:00"


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def outcome(data: dict[str, Any], name: str) -> str:
    return str(next(test["outcome"] for test in data["tests"] if test["nodeid"].endswith(name)))


def ack(capsys: pytest.CaptureFixture[str], tmp_path: Path, fingerprint: str, until: str = "2099-12-31",
        report_path: Path | None = None) -> Path:
    """Run `tradewatch ack` on the last run's report; return the file of known findings."""
    known = tmp_path / "known-findings.toml"
    capsys.readouterr()
    code = cli.main(["ack", fingerprint, "--reason", "ticket 4711: a person looked", "--until", until,
                     "--owner", "ops", "--report", str(report_path or tmp_path / "report.json"),
                     "--file", str(known)])
    assert code == 0, capsys.readouterr().err
    return known


def test_an_acknowledged_finding_stays_green_until_it_expires(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = run_checks(demo_db, "-m", "not broker")
    [missing] = findings_of(first, PURPOSE)
    known = ack(capsys, tmp_path, missing["fingerprint"])
    entry = tomllib.loads(known.read_text())["finding"][0]
    assert (entry["reason"], entry["owner"], str(entry["until"]), entry["type"], entry["rule"]) == (
        "ticket 4711: a person looked", "ops", "2099-12-31", "ORDER_PURPOSE_MISSING", "order_purpose_set")
    assert "case" not in entry  # the rule has no cases

    result, held = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}")
    assert outcome(held, PURPOSE) == "passed"
    [shown] = findings_of(held, PURPOSE)
    assert shown["acknowledged"] == {"reason": "ticket 4711: a person looked", "owner": "ops",
                                     "until": "2099-12-31", "fingerprint": missing["fingerprint"],
                                     "type": "ORDER_PURPOSE_MISSING"}
    assert held["tradewatch"]["acknowledgements"]["held"] == 1
    assert report.summarize(held)["summary"]["acknowledged"] == 1
    assert report.summarize(held)["summary"]["total_issues"] == report.summarize(first)["summary"][
        "total_issues"] - 1
    assert report.summarize_v2(held)["issue_summary"]["acknowledged"] == 1
    assert "1 acknowledged finding(s), not failing:" in result.stdout.str()
    # Not alerted: planned as a finding below the bar.
    planned = alerting.plan(held, {"version": alerting.STATE_VERSION, "open": {}, "error": None})
    assert not any(missing["message"] in notice.body for notice in planned.notices)

    # Its last day is the market's (New York's): still 2099-12-31 there, though 2100 in UTC.
    _, last_day = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}",
                             as_of="2100-01-01T00:30:00+00:00")
    assert outcome(last_day, PURPOSE) == "passed"

    # From the market's next day it fails again, and the report says which acknowledgement lapsed.
    _, lapsed = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}",
                           as_of="2100-01-01T00:00:00-05:00")
    assert outcome(lapsed, PURPOSE) == "failed"
    assert not findings_of(lapsed, PURPOSE)[0].get("acknowledged")
    assert [entry["fingerprint"] for entry in lapsed["tradewatch"]["acknowledgements"]["expired"]] == [
        missing["fingerprint"]]


def test_an_acknowledgement_lapses_when_what_it_saw_changes(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = run_checks(demo_db, "-m", "not broker")
    known = ack(capsys, tmp_path, findings_of(first, PURPOSE)[0]["fingerprint"])
    with psycopg.connect(demo_db, autocommit=True) as conn:  # the same order, now with a bad purpose
        conn.execute("ALTER TABLE orders DROP CONSTRAINT orders_order_purpose_check")
        conn.execute("UPDATE orders SET order_purpose = 'scalp' WHERE order_id = 23")
    _, changed = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}")
    assert outcome(changed, PURPOSE) == "failed"
    assert len(changed["tradewatch"]["acknowledgements"]["changed"]) == 1


def test_a_waiting_time_does_not_lift_an_acknowledgement(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stuck order waits longer every run: minutes are volatile, the acknowledgement holds."""
    _, first = run_checks(demo_db, "-m", "not broker")
    known = ack(capsys, tmp_path, findings_of(first, STUCK)[0]["fingerprint"])
    entry = tomllib.loads(known.read_text())["finding"][0]
    assert (entry["rule"], entry["case"]) == ("no_stuck_orders", "created")
    _, later = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}",
                          as_of="2025-12-31T11:40:00-05:00")
    assert outcome(later, STUCK) == "passed"
    assert findings_of(later, STUCK)[0]["details"]["minutes_pending"] == 70.0


def known_entry(fingerprint: str, **names: str) -> str:
    """A [[finding]] entry of the file of known findings, naming what names says (rule, case, type)."""
    said = "".join(f'{name} = "{value}"\n' for name, value in names.items())
    return (f'[[finding]]\nfingerprint = "{fingerprint}"\n{said}reason = "fixed since"\nowner = "ops"\n'
            'until = 2099-01-01\nstate = "00000000000000000000"\n')


def stale(data: dict[str, Any]) -> list[str] | None:
    listed = data["tradewatch"]["acknowledgements"].get("stale")
    return None if listed is None else [entry["fingerprint"] for entry in listed]


def test_an_acknowledgement_whose_finding_is_gone_is_stale(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path
) -> None:
    known = tmp_path / "known-findings.toml"
    known.write_text(known_entry("0123456789abcdef0123", rule="order_purpose_set"))
    clean = seeded_db("clean")
    _, data = run_checks(clean, f"--known-findings={known}", "-m", "not broker")
    # A run of part of the checks cannot tell a gone finding from one it did not look for.
    assert stale(data) is None
    _, data = run_checks(clean, f"--known-findings={known}")
    assert stale(data) == ["0123456789abcdef0123"]


def test_only_a_check_that_looked_can_call_an_acknowledgement_stale(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path
) -> None:
    """Ignored, not applicable, or the broker's skipped for want of credentials: say nothing is gone."""
    known = tmp_path / "known-findings.toml"
    known.write_text("".join([
        known_entry("00000000000000000001", rule="no_stuck_orders", case="created"),
        known_entry("00000000000000000002", rule="order_purpose_set"),  # ignored below
        known_entry("00000000000000000003", rule="account_in_good_standing", case="buying_power"),
        known_entry("00000000000000000004", rule="no_stuck_orders", case="pending"),  # not in this layout
        # Entries written before the rule was recorded: every check that reports the type must look.
        known_entry("00000000000000000005", type="UNKNOWN_ORDER_STATUS"),
        known_entry("00000000000000000006", type="BUYING_POWER_LOW"),
        known_entry("00000000000000000007", type="STUCK_ORDER"),  # its 'pending' case is not applicable
        known_entry("00000000000000000008"),
    ]))
    _, data = run_checks(seeded_db("clean"), f"--known-findings={known}",
                         "-o", "tradewatch_rules=order_purpose_set: severity=ignore")
    assert outcome(data, "test_broker.py::test_account_in_good_standing[buying_power]") == "skipped"
    assert outcome(data, "test_orders.py::test_no_stuck_orders[pending]") == "skipped"
    assert stale(data) == ["00000000000000000001", "00000000000000000005"]


def test_only_judged_checks_are_asked_what_is_gone() -> None:
    """Judge.describe lists as stale an acknowledgement only when each check that could report it looked."""
    purpose, stuck = catalogue.BY_NAME["order_purpose_set"], catalogue.BY_NAME["no_stuck_orders"]
    until = date(2099, 1, 1)
    judge = Judge(datetime(2025, 12, 31, 16, tzinfo=UTC), lambda moment: True, acks={
        "00000000000000000001": Ack("00000000000000000001", "r", "o", until, "s", rule=purpose.name),
        "00000000000000000002": Ack("00000000000000000002", "r", "o", until, "s", rule=stuck.name,
                                    case="created"),
        "00000000000000000003": Ack("00000000000000000003", "r", "o", until, "s", type="STUCK_ORDER"),
    })
    judge.judged(purpose, None)
    judge.judged(stuck, "created")
    assert stale({"tradewatch": {"acknowledgements": judge.describe(True)}}) == [
        "00000000000000000001", "00000000000000000002"]
    for case in stuck.cases:  # an entry naming only a type: every check of its rule has looked
        judge.judged(stuck, case)
    assert stale({"tradewatch": {"acknowledgements": judge.describe(True)}}) == [
        "00000000000000000001", "00000000000000000002", "00000000000000000003"]
    assert "stale" not in judge.describe(False)  # a run of part of the checks says nothing


@pytest.mark.parametrize(("as_of", "holds"), [
    ("2027-01-01T19:30:00-05:00", True),
    ("2027-01-02T00:30:00+00:00", True),  # the same instant: still the 1st in New York
    ("2027-01-02T00:00:00-05:00", False),
    ("2027-01-02T04:59:00+00:00", True),
    ("2027-01-02T05:00:00+00:00", False),
])
def test_until_is_a_day_of_the_markets_zone(as_of: str, holds: bool) -> None:
    rule = catalogue.BY_NAME["order_purpose_set"]
    found = Finding("ORDER_PURPOSE_MISSING", "WARNING", {"order_id": 23}, "order 23 has no purpose",
                    details={"order_purpose": None})
    held = Ack(found.fingerprint, "r", "o", date(2027, 1, 1), state_of(found.details))
    judge = Judge(datetime.fromisoformat(as_of), lambda moment: True, acks={held.fingerprint: held},
                  zone="America/New_York")
    assert (judge.settle(rule, found).acknowledged is not None) is holds
    assert judge.expired == (set() if holds else {held.fingerprint})


@pytest.mark.parametrize(("content", "problem"), [
    ("[[finding]]\nfingerprint = 'abc'\n", "reason is missing"),
    ('[[finding]]\nfingerprint = "nothex"\nreason = "r"\nowner = "o"\nuntil = 2099-01-01\nstate = "s"\n',
     "is not a finding's"),
    ('[[finding]]\nfingerprint = "0123456789abcdef0123"\nreason = "r"\nowner = "o"\nuntil = "soon"\n'
     'state = "s"\n', "until must be a date"),
    ("not toml at all [", "cannot read"),
])
def test_a_broken_file_of_known_findings_stops_the_run_in_one_line(
    content: str, problem: str, seeded_db: Any, run_checks: RunChecks, tmp_path: Path
) -> None:
    known = tmp_path / "known-findings.toml"
    known.write_text(content)
    result, data = run_checks(seeded_db("clean"), f"--known-findings={known}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert problem in data["tradewatch"]["error"]
    assert report.exit_code(report.summarize(data)) == 3


def test_ack_refuses_what_the_report_does_not_hold(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_checks(seeded_db("clean"), "-m", "not broker")
    capsys.readouterr()
    args = ["ack", "0123456789abcdef0123", "--reason", "r", "--until", "2099-01-01", "--report",
            str(tmp_path / "report.json"), "--file", str(tmp_path / "k.toml")]
    assert cli.main(args) == 1
    assert cli.main([*args[:5], "2020-01-01", *args[6:]]) == 64
    # Today and yesterday as the run judges an acknowledgement's last day: in the market's zone.
    today = datetime.now(ZoneInfo("America/New_York")).date()
    assert cli.main([*args[:5], today.isoformat(), *args[6:]]) == 1  # still holds today: no such finding
    capsys.readouterr()
    assert cli.main([*args[:5], (today - timedelta(days=1)).isoformat(), *args[6:]]) == 64
    assert capsys.readouterr().err.endswith("has passed (America/New_York)\n")
    # What the file could not hold, or a later run would refuse: nothing is written.
    for option, value, said in (("--owner", "   ", "--owner must not be blank"),
                                ("--reason", " ", "--reason must not be blank"),
                                ("--reason", "ticket \udcff", "--reason is not valid UTF-8 text"),
                                ("--owner", "\udcffops", "--owner is not valid UTF-8 text")):
        assert cli.main([*args, option, value]) == 64
        assert capsys.readouterr().err == f"tradewatch ack: {said}\n"
    assert not (tmp_path / "k.toml").exists()


def test_a_rules_severity_is_raised_lowered_or_ignored(demo_db: str, run_checks: RunChecks) -> None:
    _, data = run_checks(demo_db, "-m", "not broker", "-o",
                         "tradewatch_rules=no_stuck_orders: severity=CRITICAL\n"
                         "order_purpose_set: severity=INFO\nposition_pnl_fresh: severity=ignore")
    stuck = findings_of(data, STUCK)[0]
    assert (stuck["severity"], stuck["severity_default"]) == ("CRITICAL", "WARNING")
    assert outcome(data, PURPOSE) == "passed"
    assert findings_of(data, PURPOSE)[0]["severity"] == "INFO"
    assert outcome(data, "test_positions.py::test_position_pnl_fresh") == "skipped"
    assert data["tradewatch"]["rules"] == {
        "no_stuck_orders": {"severity": "CRITICAL", "default": {"severity": "WARNING"}},
        "order_purpose_set": {"severity": "INFO", "default": {"severity": "WARNING"}},
        "position_pnl_fresh": {"severity": "ignore", "default": {"severity": "INFO"}}}


def test_a_rules_threshold_is_set_for_it_alone(demo_db: str, run_checks: RunChecks) -> None:
    _, data = run_checks(demo_db, "-m", "not broker", "-o",
                         "tradewatch_rules=no_stuck_orders: stuck_order_minutes=45")
    assert outcome(data, STUCK) == "passed"  # 30 minutes unsent is not stuck at 45
    assert data["tradewatch"]["rules"] == {
        "no_stuck_orders": {"stuck_order_minutes": 45.0, "default": {"stuck_order_minutes": 5.0}}}


@pytest.mark.parametrize(("line", "problem"), [
    ("no_such_rule: severity=INFO", "no_such_rule: no such rule"),
    ("no_stuck_order: severity=INFO", "did you mean no_stuck_orders?"),
    ("no_stuck_orders severity=INFO", "expected RULE: KEY=VALUE"),
    ("no_stuck_orders: severity=LOUD", "severity 'LOUD' is not one of"),
    ("no_stuck_orders: stale_pnl_minutes=3",
     "no setting 'stale_pnl_minutes'; it takes severity, stuck_order_minutes"),
    ("no_stuck_orders: stuck_order_minutes=soon", "stuck_order_minutes: expected a number, got 'soon'"),
    # Held to the run-wide setting's terms: a stuck threshold of 0 would call every pending order stuck.
    ("no_stuck_orders: stuck_order_minutes=0", "stuck_order_minutes: expected a number above 0, got '0'"),
    ("position_pnl_fresh: stale_pnl_minutes=nan", "stale_pnl_minutes: expected a number above 0"),
    ("orders_match_broker: broker_grace_seconds=-1", "expected a number of 0 or more, got '-1'"),
])
def test_bad_rule_settings_stop_the_run_in_one_line(
    line: str, problem: str, seeded_db: Any, run_checks: RunChecks
) -> None:
    result, data = run_checks(seeded_db("clean"), "-o", f"tradewatch_rules={line}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert problem in data["tradewatch"]["error"]

"""tradewatch_schema on a real layout: an override that names nothing stops the run at start in one line
per problem; one that names a renamed column makes the checks work as on the profile's own names."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import RunChecks
from tests.layout_books import BOOKS, FAST, serving
from tests.layout_defects import DEFECTS_2026_04
from tests.layouts import LAYOUTS, Expected, checks_in, layout_database, nodeid
from tests.pg import ScratchServer, run_sql
from tradewatch import cli, report

GEN_D = LAYOUTS["catalyst-2026-04"]
RENAMED = "ALTER TABLE orders RENAME COLUMN broker_order_id TO ext_order_id"


def _schema(*lines: str) -> tuple[str, str]:
    """The options setting tradewatch_schema to these lines."""
    return "-o", "tradewatch_schema=" + "\n".join(lines)


GEN_D_SET = "--profile=catalyst-2026-04"
OVERRIDE = _schema("orders.broker_id = ext_order_id")
WRONG = {
    "column": ((*_schema("orders.broker_id = ext_order_id"), GEN_D_SET),
               ["orders.broker_id: no column ext_order_id in orders (profile catalyst-2026-04)"]),
    # On a database whose column was renamed, naming the profile's own column is wrong too.
    "renamed-column": ((*_schema("orders.broker_id = broker_order_id"), GEN_D_SET),
                       ["orders.broker_id: no column broker_order_id in orders (profile catalyst-2026-04)"]),
    "table-and-column": ((*_schema("orders.table = trades", "positions.close_reason = why_closed"),
                          GEN_D_SET),
                         ["positions.close_reason: no column why_closed in positions "
                          "(profile catalyst-2026-04)",
                          "orders.table: no table trades (profile catalyst-2026-04)"]),
    # Detection does not take a misspelt orders table for the Hong Kong desk, which has none.
    "table-detected": (_schema("orders.table = trades"),
                       ["cannot tell the layout: orders.table names no table trades in schemas public; "
                        "correct it, or set tradewatch_profile"]),
    "field": (_schema("orders.broker = ext_order_id"),
              ["orders.broker: no such field; fields are listed in the README's 'Your schema'"]),
    # A column the rules compare as a number, or with the key it refers to, must be of a type they can.
    "not-a-number": ((*_schema("orders.filled_qty = filled_text"), GEN_D_SET),
                     ["orders.filled_qty: column filled_text of orders is text, not a number "
                      "(profile catalyst-2026-04)"]),
    "reference-of-another-type": ((*_schema("orders.position = position_ref"), GEN_D_SET),
                                  ["orders.position: column position_ref of orders is uuid, but "
                                   "positions.position_id, the positions.id it refers to, is integer "
                                   "(profile catalyst-2026-04)"]),
}
# What each case changes in the database first.
SETUP = {
    "renamed-column": RENAMED,
    "not-a-number": "ALTER TABLE orders ADD COLUMN filled_text text",
    "reference-of-another-type": "ALTER TABLE orders ADD COLUMN position_ref uuid",
}


@pytest.mark.parametrize("case", WRONG)
def test_a_wrong_override_stops_the_run_at_start(
    case: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """One line at start naming every problem; no check runs, each is an error of the report."""
    options, problems = WRONG[case]
    url = layout_database(pg_server, GEN_D)
    if case in SETUP:
        run_sql(url, SETUP[case])
    result, report = run_checks(url, "-m", "not broker", *options, as_of=GEN_D.as_of)
    said = "tradewatch: the schema map does not fit: " + "; ".join(problems)
    assert said in result.stdout.str() + result.stderr.str()
    assert report["tradewatch"]["error"] == said.removeprefix("tradewatch: ")
    assert {test["outcome"] for test in report["tests"]} == {"error"}
    assert result.ret == pytest.ExitCode.INTERRUPTED


@pytest.mark.parametrize("how", ["auto", "explicit"])
def test_an_override_makes_a_renamed_column_work(
    how: str, pg_server: ScratchServer, run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A catalyst-2026-04 database whose broker_order_id is ext_order_id: detected as the layout it
    is, and every check passes on its clean desk, the broker's included."""
    url = layout_database(pg_server, GEN_D)
    run_sql(url, RENAMED)
    chosen = () if how == "auto" else (GEN_D_SET,)
    with serving(BOOKS[GEN_D.profile](), monkeypatch):
        result, report = run_checks(url, *OVERRIDE, *chosen, *FAST, as_of=GEN_D.as_of)
    Expected(GEN_D).check(report)
    assert result.ret == 0
    schema = report["tradewatch"]["schema"]
    assert (schema["detected"], schema["overrides"]) == (how == "auto", {"orders.broker_id": "ext_order_id"})


def test_without_the_override_the_layout_cannot_be_told(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    url = layout_database(pg_server, GEN_D)
    run_sql(url, RENAMED)
    result, report = run_checks(url, "-m", "not broker", as_of=GEN_D.as_of)
    assert report["tradewatch"]["error"] == (
        "the schema map does not fit: cannot tell the layout: orders has neither alpaca_order_id nor "
        "broker_order_id; set tradewatch_profile and map the columns in tradewatch_schema")
    assert result.ret == pytest.ExitCode.INTERRUPTED


# Defects that read the broker id: an entry found by it, one no position holds, a stuck order's key.
THROUGH_BROKER_ID = ("wrong_side_long_entry", "unlinked_entry", "stuck_submitted")


@pytest.mark.parametrize("seed", THROUGH_BROKER_ID)
def test_with_the_override_the_defects_are_found(
    seed: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    (defect,) = [defect for defect in DEFECTS_2026_04 if defect.seed == seed]
    url = layout_database(pg_server, GEN_D, seed)
    run_sql(url, RENAMED)
    result, report = run_checks(url, "-m", "not broker", *OVERRIDE, as_of=GEN_D.as_of)
    Expected(GEN_D, failed={defect.check: list(defect.findings)}).check(report)
    assert result.ret == 1
    if seed == "unlinked_entry":
        check = checks_in(report)[nodeid("order_linked_to_position", "no_position")]
        assert check["metadata"]["findings"][0]["message"].startswith("entry 100 (AMZN buy 5 filled")


def test_a_column_of_the_wrong_type_errors_its_rules_alone(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """The layout's own updated_at kept as text: the rule comparing it errors and says why; the rest run."""
    url = layout_database(pg_server, GEN_D)
    run_sql(url, "ALTER TABLE positions ALTER COLUMN updated_at TYPE text USING updated_at::text")
    result, report = run_checks(url, "-m", "not broker", as_of=GEN_D.as_of)
    tests = checks_in(report)
    reason = "positions.updated_at: column updated_at of positions is text, not a timestamp " \
             "(profile catalyst-2026-04)"
    errored = {name for name, test in tests.items() if test["outcome"] == "error"}
    assert errored == {nodeid("position_pnl_fresh")}
    assert reason in tests[nodeid("position_pnl_fresh")]["metadata"]["error"]
    assert tests[nodeid("order_side_matches_purpose", "long-entry")]["outcome"] == "passed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_declared_column_gone_errors_its_rules_rather_than_turning_them_off(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """The April layout's orders.status renamed: every rule reading it is an error naming the column,
    never a skip that would leave the run green; a rule not reading it still runs."""
    url = layout_database(pg_server, GEN_D, "stuck_pending")
    run_sql(url, "ALTER TABLE orders RENAME COLUMN status TO order_status")
    result, report = run_checks(url, "-m", "not broker", as_of=GEN_D.as_of)
    tests = checks_in(report)
    reason = "orders.status: no column status in orders (profile catalyst-2026-04)"
    for name in (nodeid("no_stuck_orders", "pending"), nodeid("order_status_known")):
        assert tests[name]["outcome"] == "error"
        assert reason in tests[name]["metadata"]["error"]
    assert tests[nodeid("order_purpose_set")]["outcome"] == "passed"
    assert not report["tradewatch"]["not_applicable"] or all(
        "orders.status" not in entry["reason"] for entry in report["tradewatch"]["not_applicable"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


UUID_KEYS = """
ALTER TABLE orders ALTER COLUMN order_id DROP DEFAULT;
ALTER TABLE positions ALTER COLUMN position_id DROP DEFAULT;
ALTER TABLE positions ALTER COLUMN position_id TYPE uuid USING md5('p' || position_id)::uuid;
ALTER TABLE orders ALTER COLUMN order_id TYPE uuid USING md5('o' || order_id)::uuid,
    ALTER COLUMN position_id TYPE uuid USING md5('p' || position_id)::uuid,
    ALTER COLUMN parent_order_id TYPE uuid USING md5('o' || parent_order_id)::uuid;
"""


def test_uuid_keys_reach_the_report_and_its_fixes(
    pg_server: ScratchServer, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A desk keyed by uuids: its findings carry the keys as text, the report passes its own schema,
    and the fix names the row by its uuid."""
    url = layout_database(pg_server, GEN_D, "stuck_pending")
    run_sql(url, UUID_KEYS)
    result, data = run_checks(url, "-m", "not broker", as_of=GEN_D.as_of)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = checks_in(data)[nodeid("no_stuck_orders", "pending")]["metadata"]["findings"]
    key = str(uuid.UUID(finding["order_id"]))
    report_path = tmp_path / "report.json"
    assert report.validation_errors(report.load(report_path)) == []
    assert cli.main(["fixes", str(report_path)]) == 0
    assert f"WHERE \"order_id\" = '{key}' AND \"status\" = 'pending';" in capsys.readouterr().out


# 'FIELD = -' turns rules off; it is no sign of another layout: each desk is still detected as itself.
NONE_OVERRIDES = {
    "april-without-position-symbols": ("catalyst-2026-04", "positions.symbol = -"),
    "february-without-orders": ("catalyst-2026-02", "orders.table = -"),
    "hong-kong-saying-it-has-no-orders": ("catalyst-international", "orders.table = -"),
}


@pytest.mark.parametrize("case", NONE_OVERRIDES)
def test_an_override_to_none_does_not_change_the_layout_detected(
    case: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    profile, line = NONE_OVERRIDES[case]
    layout = LAYOUTS[profile]
    url = layout_database(pg_server, layout)
    _, report = run_checks(url, "-m", "not broker", *_schema(line), as_of=layout.as_of)
    assert (report["tradewatch"]["profile"], report["tradewatch"]["schema"]["detected"]) == (profile, True)
    assert "error" not in report["tradewatch"]
    assert not [test["nodeid"] for test in report["tests"] if test["outcome"] in ("error", "failed")]


def _vocabulary(*lines: str) -> tuple[str, str]:
    """The options setting tradewatch_vocabulary to these lines."""
    return "-o", "tradewatch_vocabulary=" + "\n".join(lines)


def test_a_vocabulary_override_makes_a_desks_own_spelling_known(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """The desk writes 'BUY' and 'Filled': unknown values, until the vocabulary says what they mean."""
    url = layout_database(pg_server, GEN_D, "order_side_unknown", "status_unknown")
    _, before = run_checks(url, "-m", "not broker", as_of=GEN_D.as_of)
    failing = {name for name, test in checks_in(before).items() if test["outcome"] == "failed"}
    assert failing == {nodeid("order_side_known"), nodeid("order_status_known")}
    result, after = run_checks(url, "-m", "not broker", *_vocabulary(
        "orders.side += BUY=buy", "orders.status += Filled=filled"), as_of=GEN_D.as_of)
    assert not [name for name, test in checks_in(after).items() if test["outcome"] in ("failed", "error")]
    assert result.ret == 0


# Two lines at odds would let the last win unseen: each such setting stops the run in one line.
AT_ODDS = {
    "a-spelling-given-two-meanings": (
        _vocabulary("orders.side += BUY=buy", "orders.side += BUY=sell"),
        "vocabulary orders.side: 'BUY' is given two meanings, buy and sell"),
    "two-meanings-in-one-line": (
        _vocabulary("orders.side += BUY=buy BUY=sell"),
        "vocabulary orders.side: 'BUY' is given two meanings, buy and sell"),
    "a-field-set-twice": (
        _schema("positions.status = status", "positions.status = side"),
        "positions.status: set twice, to status and to side"),
}


@pytest.mark.parametrize("case", AT_ODDS)
def test_settings_at_odds_stop_the_run(case: str, pg_server: ScratchServer, run_checks: RunChecks) -> None:
    options, problem = AT_ODDS[case]
    url = layout_database(pg_server, GEN_D)
    result, report = run_checks(url, "-m", "not broker", GEN_D_SET, *options, as_of=GEN_D.as_of)
    assert problem in report["tradewatch"]["error"]
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_spelling_removed_may_be_given_again(pg_server: ScratchServer, run_checks: RunChecks) -> None:
    url = layout_database(pg_server, GEN_D, "order_side_unknown")
    result, _ = run_checks(url, "-m", "not broker", *_vocabulary(
        "orders.side += BUY=sell", "orders.side -= BUY", "orders.side += BUY=buy"), as_of=GEN_D.as_of)
    assert result.ret == 0

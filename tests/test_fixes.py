"""tradewatch fixes: one reviewable script that parses, runs, and changes nothing until edited."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo, sql

from tests.conftest import RunChecks
from tests.pg import run_sql, run_sql_file
from tradewatch import cli, demo
from tradewatch.commands import fixes as fixes_command
from tradewatch.fixes import allowed_targets

TABLES = ("securities", "trading_cycles", "positions", "orders")


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def fixes(capsys: pytest.CaptureFixture[str], report: Path) -> str:
    """Run `tradewatch fixes` and return the script it prints."""
    capsys.readouterr()  # Drop what an in-process checks run printed.
    assert cli.main(["fixes", str(report)]) == 0
    return capsys.readouterr().out


def snapshot(url: str) -> dict[str, list[Any]]:
    """Every row of the desk's tables, to compare before and after."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT to_jsonb(t)::text FROM {} AS t ORDER BY 1").format(sql.Identifier(table))
            ).fetchall()
            for table in TABLES
        }


def proposed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for test in data["tests"] for f in test["metadata"].get("findings", []) if f["fix"]]


def test_script_groups_every_fix_by_type_inside_a_rolled_back_transaction(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    script = fixes(capsys, tmp_path / "report.json")
    lines = script.splitlines()
    assert lines.count("BEGIN;") == 1
    assert lines[-1] == "ROLLBACK;"
    assert "COMMIT;" not in lines
    assert lines.index("BEGIN;") < min(i for i, line in enumerate(lines) if line.startswith("UPDATE"))
    assert "change ROLLBACK at the end to COMMIT" in script
    assert "(DEMO data)" not in script  # A database given by URL is not the embedded demo.
    fixable = proposed(data)
    assert len({f["type"] for f in fixable}) >= 2
    for finding in fixable:
        at = lines.index(finding["fix"])  # Each fix once, on its own line...
        assert lines[at - 1] == f"-- {finding['severity']}: {finding['message']} [{finding['fingerprint']}]"
        assert script.count(finding["fix"]) == 1
    headers = [line for line in lines if re.match(r"^-- == [A-Z_]+ \(\d+\) ==$", line)]
    assert [h.split()[2] for h in headers] == sorted({f["type"] for f in fixable})  # ...grouped by type.


def test_script_runs_and_changes_nothing_until_rollback_becomes_commit(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    script = fixes(capsys, tmp_path / "report.json")
    before = snapshot(demo_db)
    run_sql(demo_db, script)
    assert snapshot(demo_db) == before

    # As a reviewer would: the same script with COMMIT does fix what it proposed to fix.
    committed = script[: script.rindex("ROLLBACK;")] + "COMMIT;\n"
    run_sql(demo_db, committed)
    assert snapshot(demo_db) != before
    _, after = run_checks(demo_db, "-m", "not broker")
    still = {f["fingerprint"] for t in after["tests"] for f in t["metadata"].get("findings", [])}
    assert not still & {f["fingerprint"] for f in proposed(data)}


def test_comments_escape_line_breaks() -> None:
    assert (fixes_command.comment("a\nDROP TABLE orders;\r\n-- b\u2028c")
            == "-- a\\nDROP TABLE orders;\\r\\n-- b\\u2028c")


def test_messages_cannot_break_out_of_their_comment(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    finding = proposed(data)[0]
    edited = tmp_path / "edited.json"
    finding["message"] = "harmless\nDROP TABLE orders;"
    edited.write_text(json.dumps(data))
    capsys.readouterr()
    assert cli.main(["fixes", str(edited)]) == 3  # The report schema refuses a two-line message.
    finding["message"] = "harmless\u2028\x0bDROP TABLE orders;"  # Line breaks the schema lets by.
    edited.write_text(json.dumps(data))
    script = fixes(capsys, edited)
    assert "-- " + finding["severity"] + ": harmless\\u2028\\x0bDROP TABLE orders;" in script
    before = snapshot(demo_db)
    run_sql(demo_db, script)
    assert snapshot(demo_db) == before


def test_no_fixes_still_makes_a_valid_script(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = seeded_db("clean")
    run_checks(url, "-m", "not broker")
    script = fixes(capsys, tmp_path / "report.json")
    assert "-- No finding of this report proposes a fix." in script
    run_sql(url, script)


def test_an_incomplete_run_is_flagged(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = seeded_db("clean", "cycles_table_dropped")
    run_checks(url, "-m", "not broker")
    script = fixes(capsys, tmp_path / "report.json")
    assert "-- WARNING: this run was incomplete, so this list may be too:" in script
    run_sql(url, script)


def test_an_unreadable_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fixes", str(tmp_path / "missing.json")]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "no report at" in err


def _statements(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("UPDATE")]


def test_one_statement_per_row_names_every_finding_it_settles(
    seeded_db: Any, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A side written 'SELL ' is unknown and wrong: both propose 'sell'; the script sets it once."""
    url = seeded_db("clean", "order_side_variant")
    _, data = run_checks(url, "-m", "not broker")
    both = [f for f in proposed(data) if f["order_id"] == 15]
    assert {f["type"] for f in both} == {"WRONG_ORDER_SIDE", "UNKNOWN_VALUE"}
    script = fixes(capsys, tmp_path / "report.json")
    [update] = _statements(script)
    assert update == ("""UPDATE "orders" SET "side" = 'sell', "updated_at" = NOW() """
                      """WHERE "order_id" = 15 AND "side" = 'SELL ';""")
    at = script.splitlines().index(update)
    comments = script.splitlines()[at - 2: at]
    assert sorted(line.split(": ", 1)[0] for line in comments) == ["-- CRITICAL", "-- WARNING"]
    assert all(any(f["fingerprint"] in line for line in comments) for f in both)
    run_sql(url, script[: script.rindex("ROLLBACK;")] + "COMMIT;\n")
    _, after = run_checks(url, "-m", "not broker")
    assert not [f for f in proposed(after) if f["order_id"] == 15]


def test_the_brokers_truth_comes_first(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Order 17 is stuck by the clock (expire it) but filled at the broker: one statement, the fill."""
    _, data = run_checks(demo_db, f"--broker-cassette={demo.DEMO_CASSETTE}")
    on_17 = {f["type"]: f for f in proposed(data) if f.get("order_id") == 17}
    assert set(on_17) == {"STUCK_ORDER", "ORDER_STATUS_MISMATCH"}
    script = fixes(capsys, tmp_path / "report.json")
    [update] = [line for line in _statements(script) if '"order_id" = 17' in line]
    assert update.startswith("""UPDATE "orders" SET "status" = 'filled'""")
    assert "expired" not in update
    lines = script.splitlines()
    at = lines.index(update)
    assert on_17["ORDER_STATUS_MISMATCH"]["fingerprint"] in lines[at - 2]
    assert lines[at - 1].startswith(
        "-- left out, the row is fixed above (broker's truth first): WARNING STUCK_ORDER")
    assert on_17["STUCK_ORDER"]["fingerprint"] in lines[at - 1]


TAMPERED = {
    "another-table": lambda f: f["fix_data"].update(table="pg_authid"),
    "another-column": lambda f: f["fix_data"]["set"].update(rolsuper=True),
    "another-key": lambda f: f["fix_data"].update(key={"status": "new"}),
    "two-keys": lambda f: f["fix_data"]["key"].update(position_id=1),
    "sql-as-a-value": lambda f: f["fix_data"]["set"].update(side={"sql": "NOW()"}),
    "no-source": lambda f: f["fix_data"].pop("source"),
    "a-database-and-a-schema": lambda f: f["fix_data"].update(table="otherdb.public.orders"),
    "an-empty-schema": lambda f: f["fix_data"].update(table=".orders"),
    "a-quoted-schema": lambda f: f["fix_data"].update(table='"".orders'),
    "a-line-break-in-the-schema": lambda f: f["fix_data"].update(table="pub\nlic.orders"),
    "a-schema-past-63-bytes": lambda f: f["fix_data"].update(table="s" * 64 + ".orders"),
    "a-schema-and-another-table": lambda f: f["fix_data"].update(table="public.pg_authid"),
    "the-key-set": lambda f: f["fix_data"]["set"].update(order_id=1),
    "the-key-set-now": lambda f: f["fix_data"]["set_now"].append("order_id"),
    "no-guard": lambda f: f["fix_data"].update(guard={}),
    "guarded-by-its-key-alone": lambda f: f["fix_data"].update(guard={"order_id": f["order_id"]}),
    "a-value-set-to-now": lambda f: f["fix_data"]["set_now"].append("status"),
}


@pytest.mark.parametrize("how", list(TAMPERED))
def test_a_tampered_fix_is_refused(
    how: str, demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    TAMPERED[how](next(f for f in proposed(data) if f["type"] == "WRONG_ORDER_SIDE"))
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    capsys.readouterr()
    assert cli.main(["fixes", str(tampered)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1


def test_a_table_off_the_first_schema_of_the_search_path_is_fixed_by_its_qualified_name(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The name tradewatch writes for a table the search path finds past its first schema is accepted."""
    run_sql(demo_db, "CREATE SCHEMA first_on_the_path;")
    _, data = run_checks(conninfo.make_conninfo(demo_db, options="-csearch_path=first_on_the_path,public"),
                         "-m", "not broker")
    assert {f["fix_data"]["table"] for f in proposed(data)} == {"public.orders"}
    script = fixes(capsys, tmp_path / "report.json")
    assert _statements(script)
    assert all(line.startswith('UPDATE "public"."orders" SET') for line in _statements(script))
    before = snapshot(demo_db)
    run_sql(demo_db, script[: script.rindex("ROLLBACK;")] + "COMMIT;\n")
    assert snapshot(demo_db) != before


def test_sql_text_in_a_report_is_never_printed(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The readable fix is for people; the script is built from the fix's data alone."""
    _, data = run_checks(demo_db, "-m", "not broker")
    for finding in proposed(data):
        finding["fix"] = "COMMIT; \\! rm -rf / ; DROP TABLE orders;"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    script = fixes(capsys, tampered)
    body = script[script.index("BEGIN;"):]
    assert "COMMIT;" not in body
    assert "\\!" not in script
    assert "DROP" not in script
    before = snapshot(demo_db)
    run_sql(demo_db, script)
    assert snapshot(demo_db) == before


def test_a_local_schema_override_is_a_target_fixes_may_touch(tmp_path: Path) -> None:
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\ntradewatch_schema =\n"
                   "    orders.table = trade_orders\n    orders.side = direction\n")
    allowed = allowed_targets(fixes_command.layouts(ini))
    assert "direction" in allowed["trade_orders"].columns
    assert "order_id" in allowed["trade_orders"].keys
    assert "trade_orders" not in allowed_targets(fixes_command.layouts(None))

"""A SQL_ASCII database holding text that is not UTF-8, control characters, NaN and Infinity and
400k-character values: the run completes, and its report reaches every consumer whole and escaped."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.alpaca_server import AlpacaServer, position
from tests.conftest import CHECKOUT, SEEDS_DIR, RunChecks
from tests.pg import ScratchServer, run_sql, run_sql_file
from tradewatch import cli, migrate, report
from tradewatch.findings import MESSAGE_LIMIT

LONG = 400_000
# On the clean seed: wider columns (the layouts that hold such values have them), then rows whose
# text no UTF-8 database could hold, with control characters, non-finite numbers and huge strings.
HOSTILE_ROWS = f"""
DROP VIEW v_trade_pipeline_status;
ALTER TABLE securities ALTER COLUMN symbol TYPE text, DROP CONSTRAINT securities_symbol_key;
ALTER TABLE orders ALTER COLUMN status TYPE text, ALTER COLUMN filled_avg_price TYPE numeric,
    ALTER COLUMN filled_qty TYPE numeric;
ALTER TABLE positions ALTER COLUMN unrealized_pnl TYPE numeric, ALTER COLUMN entry_price TYPE numeric;
{(CHECKOUT / "migrations" / "0004.pipeline-status-view.sql").read_text()}
INSERT INTO securities (security_id, symbol) VALUES
    (200, repeat('L', {LONG})), (201, E'BAD\\xff\\xfeSYM'), (202, E'NL\\nESC\\x1b[31mRED\\x07\\x01');
INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price, status,
                       opened_at, unrealized_pnl, updated_at) VALUES
    (200, '20251231-001', 200, 'long', 10, 'NaN', 'open', '2025-12-31 10:00-05', 'NaN',
     '2025-12-31 10:00-05'),
    (201, '20251231-001', 201, 'long', 10, 'Infinity', 'open', '2025-12-31 10:00-05', '-Infinity',
     '2025-12-31 10:00-05'),
    (202, '20251231-001', 202, 'short', 10, 5, 'open', '2025-12-31 10:00-05', 1, '2025-12-31 10:00-05');
INSERT INTO orders (order_id, position_id, security_id, cycle_id, side, order_type, quantity,
                    alpaca_order_id, status, filled_qty, filled_avg_price, created_at, submitted_at,
                    order_purpose) VALUES
    (200, 200, 200, '20251231-001', 'sell', 'market', 10, E'id-\\xff-bad', repeat('s', {LONG}), 'NaN',
     'Infinity', '2025-12-31 10:00-05', '2025-12-31 10:00-05', 'entry'),
    (201, 201, 201, '20251231-001', 'buy', 'market', 10, E'id\\n\\x1b[2Jx', E'st\\xc3\\x28\\x1b\\n',
     'Infinity', 'NaN', '2025-12-31 10:00-05', '2025-12-31 10:00-05', 'entry'),
    (202, 202, 202, '20251231-001', 'buy', 'market', 10, NULL, 'submitted', '-Infinity', '-Infinity',
     '2025-12-31 10:00-05', '2025-12-31 10:00-05', 'entry');
"""
# What a terminal must never receive raw from the data: ESC, BEL, SOH, a bare line break inside a value.
RAW_CONTROLS = ("\x1b", "\x07", "\x01")


@contextlib.contextmanager
def clean_sql_ascii_database(pg_server: ScratchServer) -> Iterator[str]:
    """A SQL_ASCII database (C collation), migrated as a user would, with the clean seed; dropped after."""
    name = f"tw_selftest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                              "TEMPLATE template0").format(sql.Identifier(name)))
    url = pg_server.url(name)
    try:
        # tradewatch migrate speaks text to a SQL_ASCII server too.
        code, out, err = _cli("migrate", "apply", "--yes", "--database-url", url)
        assert (code, err) == (0, ""), err
        assert out.endswith(f"applied {len(migrate.migration_ids())} migration(s)\n")
        run_sql_file(url, SEEDS_DIR / "clean.sql")
        yield url
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def sql_ascii_url(pg_server: ScratchServer) -> Iterator[str]:
    """A SQL_ASCII database with the clean seed and the hostile rows."""
    with clean_sql_ascii_database(pg_server) as url:
        run_sql(url, HOSTILE_ROWS)
        yield url


def _cli(*args: str) -> tuple[int, str, str]:
    """Run a tradewatch command in-process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _raw_controls(lines: list[str]) -> list[str]:
    return [line[:80] for line in lines if any(char in line for char in RAW_CONTROLS)]


def test_the_run_completes_and_every_finding_reaches_every_consumer(
    sql_ascii_url: str, run_checks: RunChecks, tmp_path: Path
) -> None:
    result, data = run_checks(sql_ascii_url, "-m", "not broker")
    report_path = tmp_path / "report.json"
    assert {test["outcome"] for test in data["tests"]} <= {"passed", "failed", "skipped"}  # all looked
    loaded = report.load(report_path)  # strict JSON (no NaN), UTF-8, and the schema's shape
    assert report.validation_errors(loaded) == []
    findings = report.issues(loaded)
    found = {(finding["type"], finding.get("order_id"), finding.get("position_id")): finding
             for finding in findings}
    # Text that is not UTF-8 arrives with its bad bytes escaped; control characters as they are stored.
    assert found["UNKNOWN_ORDER_STATUS", 201, 201]["details"]["status"] == "st\\xc3(\x1b\n"
    assert found["UNKNOWN_ORDER_STATUS", 201, 201]["symbol"] == "BAD\\xff\\xfeSYM"
    assert found["UNKNOWN_ORDER_STATUS", 200, 200]["details"]["status"] == "s" * LONG  # kept whole
    assert found["WRONG_ORDER_SIDE", 202, 202]["symbol"] == "NL\nESC\x1b[31mRED\x07\x01"
    # NaN and Infinity as text.
    assert found["STALE_POSITION_DATA", None, 200]["details"]["unrealized_pnl"] == "NaN"
    assert found["STALE_POSITION_DATA", None, 201]["details"]["unrealized_pnl"] == "-Infinity"
    # Messages are one line, and cut.
    for finding in findings:
        assert "\n" not in finding["message"]
        assert len(finding["message"]) <= MESSAGE_LIMIT + len("...(+999999 characters)")
    assert found["WRONG_ORDER_SIDE", 200, 200]["message"].endswith(" characters)")

    code, out, _ = _cli("summary", str(report_path))
    assert code == 2  # CRITICAL: every check ran
    assert {issue["fingerprint"] for issue in json.loads(out)["issues"]} == {
        finding["fingerprint"] for finding in findings}

    code, out, err = _cli("alert", str(report_path), "--dry-run", "--state", str(tmp_path / "state.json"))
    assert code == 0, err
    alerted = out + err
    for finding in findings:
        if finding["severity"] != "INFO":
            shown = " ".join(finding["message"][:80].split())
            assert f"{finding['severity']} {finding['type']}: {shown}" in alerted
    assert not _raw_controls(alerted.splitlines())

    code, out, err = _cli("fixes", str(report_path))
    assert code == 0, err
    fixed = [finding for finding in findings if finding["fix_data"]]
    assert fixed
    for finding in fixed:
        assert finding["fingerprint"] in out
    assert not _raw_controls(out.splitlines())

    # The terminal shows such characters escaped, on lines of bounded length.
    terminal = result.outlines + result.errlines
    assert not _raw_controls(terminal)
    assert any("NL\\nESC\\x1b[31mRED\\x07\\x01" in line for line in terminal)
    assert any("BAD\\xff\\xfeSYM" in line for line in terminal)
    assert max(len(line) for line in terminal) < 2 * MESSAGE_LIMIT


def test_a_non_finite_quantity_is_one_error_line(
    seeded_db: Callable[..., str], run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quantity of NaN where the broker holds the symbol: the reconciliation cannot compute with it,
    so the check errors in one line (no traceback), and the other checks still run."""
    url = seeded_db("clean")
    run_sql(url, "ALTER TABLE positions ALTER COLUMN quantity TYPE numeric; "
                 "UPDATE positions SET quantity = 'NaN' WHERE position_id = 1")
    with AlpacaServer(positions=[position("AAPL", "100"), position("TSLA", "-30")]) as broker:
        for name, value in (("ALPACA_BASE_URL", broker.url), ("ALPACA_API_KEY", broker.api_key),
                            ("ALPACA_SECRET_KEY", broker.secret_key)):
            monkeypatch.setenv(name, value)
        result, data = run_checks(url, "-m", "broker")
    errors = {test["nodeid"]: test["metadata"]["error"]
              for test in data["tests"] if test["outcome"] == "error"}
    assert errors["checks/test_broker.py::test_positions_match_broker[quantity]"].startswith(
        "the rule cannot compute with a value it read (NaN or Infinity)")
    assert "checks/test_broker.py::test_orders_match_broker[status]" not in errors
    assert not [line for line in result.outlines if line.startswith(("Traceback", "E   "))]


def test_a_client_id_that_is_not_utf8_is_still_found_shared(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """Two orders share a client order id holding a byte no UTF-8 text has: found, shown escaped."""
    with clean_sql_ascii_database(pg_server) as url:
        run_sql(url, "UPDATE orders SET alpaca_client_order_id = E'cts-\\xff' WHERE order_id IN (11, 14)")
        result, data = run_checks(url, "-k", "client_order_ids")
    [test] = [test for test in data["tests"] if test["outcome"] != "deselected"]
    [finding] = test["metadata"]["findings"]
    assert (finding["type"], finding["alpaca_client_order_id"], finding["details"]["order_ids"]) == (
        "DUPLICATE_CLIENT_ORDER_ID", "cts-\\xff", [11, 14])
    assert result.ret == pytest.ExitCode.TESTS_FAILED

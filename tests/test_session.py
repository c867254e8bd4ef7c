"""Check sessions cannot write and give up on slow queries; a run without its database stops at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, SEEDS_DIR
from tests.pg import ScratchServer, run_sql_file, snapshot, watch
from tradewatch import db, embedded, report, watched

# Without Hypothesis' plugin an in-process run does not re-import it (the checks use none).

WRITES = {
    "insert": "INSERT INTO securities (symbol) VALUES ('NVDA')",
    "update": "UPDATE orders SET status = 'expired' WHERE order_id = 13",
    "delete": "DELETE FROM positions WHERE position_id = 4",
    "truncate": "TRUNCATE orders CASCADE",
    "create-table": "CREATE TABLE scratch (id INTEGER)",
    "drop-view": "DROP VIEW v_trade_pipeline_status",
    "nextval": "SELECT nextval('orders_order_id_seq')",
}


@pytest.fixture(scope="module")
def clean_url(pg_server: ScratchServer, migrated_template: str) -> str:
    """One database with the clean seed, shared by tests that must leave it as it is."""
    url = pg_server.create(template=migrated_template)
    run_sql_file(url, SEEDS_DIR / "clean.sql")
    return url


@pytest.fixture
def unchanged(clean_url: str) -> Iterator[str]:
    """The clean database, asserted unchanged when the test is done."""
    before = snapshot(clean_url)
    yield clean_url
    assert snapshot(clean_url) == before


@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("statement", list(WRITES.values()), ids=list(WRITES))
def test_check_session_refuses_writes(unchanged: str, statement: str, in_transaction: bool) -> None:
    """A session opened as checks open theirs refuses every kind of write, also in a transaction."""
    with (
        db.connect(unchanged, read_only=True, statement_timeout_s=5) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        _write(conn, statement, in_transaction)


def _write(conn: psycopg.Connection, statement: str, in_transaction: bool) -> None:
    if in_transaction:
        # As view_fails_to_run reads: inside an explicit transaction.
        with conn.transaction():
            conn.execute(statement)
    else:
        conn.execute(statement)


def test_watched_session_is_read_only_and_bounded(unchanged: str) -> None:
    """The session a run opens from its settings is read-only and has the configured timeout."""
    session = watch(unchanged, statement_timeout_s="7")
    try:
        assert not session.demo
        show: Any = session.conn.execute("SHOW default_transaction_read_only").fetchone()
        assert show[0] == "on"
        show = session.conn.execute("SHOW statement_timeout").fetchone()
        assert show[0] == "7s"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.conn.execute("UPDATE orders SET side = 'sell' WHERE order_id = 1")
    finally:
        session.close()


def test_watched_db_fixture_refuses_writes(unchanged: str, pytester: pytest.Pytester) -> None:
    """A check that tries to write through the watched_db fixture is refused."""
    pytester.makepyfile(test_writer="""
        import psycopg
        import pytest

        def test_write(watched_db):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                watched_db.conn.execute("DELETE FROM orders")
            assert watched_db.conn.execute("SHOW statement_timeout").fetchone()[0] == "3s"
    """)
    result = pytester.runpytest_inprocess(
        "-p", "tradewatch.plugin", *QUICK_RUN, f"--database-url={unchanged}",
        "--statement-timeout=3", "--tradewatch-report=",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["connect", "settings"])
def test_statement_timeout_cancels_a_slow_query(clean_url: str, how: str) -> None:
    """A query beyond the statement timeout is cancelled, and the session stays usable."""
    if how == "connect":
        conn = db.connect(clean_url, read_only=True, statement_timeout_s=0.2)
    else:
        conn = watch(clean_url, statement_timeout_s="0.2").conn
    with conn:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(10)")
        assert time.monotonic() - started < 5
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture
def no_demo_server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt to start the embedded demo server."""
    started: list[str] = []

    def refuse(*args: object, **kwargs: object) -> Any:
        started.append("started")
        raise AssertionError("the embedded demo server must not start")

    monkeypatch.setattr(watched, "start_demo_database", refuse)
    monkeypatch.setattr(embedded.EmbeddedServer, "start", refuse)
    return started


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:s3cret@127.0.0.1:1/x", "host=127.0.0.1 port=1 dbname=x user=u password=s3cret"],
    ids=["url", "conninfo"],
)
def test_unreachable_database_ends_the_run(
    url: str, pytester: pytest.Pytester, no_demo_server: list[str], tmp_path: Any
) -> None:
    """One line names host and database without the password, the run is INTERRUPTED, and its
    report says so: every check an error, the run an ERROR."""
    report_path = tmp_path / "report.json"
    report_path.write_text('{"stale": true}')  # The last run's report is not left to be read as this one's.
    started = time.monotonic()
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), *QUICK_RUN, f"--database-url={url}", f"--tradewatch-report={report_path}",
    )
    assert time.monotonic() - started < 15
    assert result.ret == pytest.ExitCode.INTERRUPTED
    said = [line for line in result.outlines + result.errlines if "cannot reach database" in line]
    assert len(said) == 1, result.outlines + result.errlines  # Once, not once per check.
    assert "u@127.0.0.1:1/x" in said[0]
    assert "Connection refused" in said[0]
    assert not [line for line in result.outlines + result.errlines if "s3cret" in line]
    data = report.load(report_path)
    assert data["tradewatch"]["error"].startswith("cannot reach database u@127.0.0.1:1/x")
    assert data["tests"]
    assert {test["outcome"] for test in data["tests"]} == {"error"}
    assert report.exit_code(report.summarize(data)) == 3
    assert "s3cret" not in report_path.read_text()
    assert no_demo_server == []


@pytest.mark.parametrize("how", ["option", "environment"])
def test_required_database_missing_is_a_hard_error(
    how: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_demo_server: list[str]
) -> None:
    """--require-database (or its variable) without DATABASE_URL stops the run; no demo starts."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRADEWATCH_REQUIRE_DATABASE", raising=False)
    args: tuple[str, ...] = ("--require-database",)
    if how == "environment":
        monkeypatch.setenv("TRADEWATCH_REQUIRE_DATABASE", "1")
        args = ()
    result = pytester.runpytest_inprocess(str(CHECKS_DIR), *QUICK_RUN, *args, "--tradewatch-report=")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = "\n".join(result.outlines + result.errlines)
    assert "DATABASE_URL is not set" in output
    assert no_demo_server == []


# A function a view calls: its first call turns the session's read-only default off, every later call
# tries to write. Only a transaction begun READ ONLY (not the session default) stops the second.
FLIP_THEN_WRITE = """
CREATE TABLE canary (written_at timestamptz);
CREATE FUNCTION tw_flip() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('tw.flipped', true) = 'yes' THEN
        BEGIN
            INSERT INTO canary VALUES (now());
        EXCEPTION WHEN read_only_sql_transaction THEN
            PERFORM set_config('tw.refused', 'yes', false);
        END;
    ELSE
        PERFORM set_config('tw.flipped', 'yes', false);
        PERFORM set_config('default_transaction_read_only', 'off', false);
    END IF;
    RETURN 1;
END $$;
"""
CALLS_FLIP = """
DO $$ BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW v_trade_pipeline_status AS '
                   'SELECT *, tw_flip() AS tw_flip FROM (%s) AS v',
                   rtrim(pg_get_viewdef('v_trade_pipeline_status'), ';'));
END $$;
"""


@pytest.fixture
def flipping(pg_server: ScratchServer, migrated_template: str) -> str:
    """A clean database whose pipeline view turns the read-only default off, then writes."""
    url = pg_server.create(template=migrated_template)
    run_sql_file(url, SEEDS_DIR / "clean.sql")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FLIP_THEN_WRITE)
        conn.execute(CALLS_FLIP)
    return url


def _canary(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row: Any = conn.execute("SELECT count(*) FROM canary").fetchone()
        return int(row[0])


def test_a_function_that_turns_the_default_off_still_cannot_write(flipping: str) -> None:
    """Every transaction of a check session begins READ ONLY: the session's default is not the guard."""
    # What the default alone would allow: the second call writes.
    with psycopg.connect(flipping, autocommit=True, options="-c default_transaction_read_only=on") as conn:
        conn.execute("SELECT tw_flip()")
        conn.execute("SELECT tw_flip()")
    assert _canary(flipping) == 1
    with psycopg.connect(flipping, autocommit=True) as conn:
        conn.execute("TRUNCATE canary")

    with db.connect(flipping, read_only=True, statement_timeout_s=5) as conn:
        for _ in range(2):
            with conn.transaction():
                conn.execute("SELECT tw_flip()")
        refused: Any = conn.execute("SELECT current_setting('tw.refused', true)").fetchone()
    assert (_canary(flipping), refused[0]) == (0, "yes")


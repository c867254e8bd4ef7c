"""tradewatch migrate on a real Catalyst database: it reads before writing; a refusal writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import SEEDS_DIR, RunChecks
from tests.db_checksum import checksum
from tests.layouts import LAYOUTS
from tests.pg import ScratchServer, run_sql, run_sql_file
from tradewatch import cli, db, migrate

ADOPTION = Path(__file__).resolve().parent.parent / "fixtures" / "adoption"
BEFORE_PHASE2 = "catalyst-2025-12-before-phase2"
GUIDE_PHASE2 = "guide-phase2"
YOYO_TABLES = {"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"}
DESK_PENDING_INDEX = ("CREATE INDEX idx_orders_pending ON public.orders USING btree (submitted_at) "
                      "WHERE ((status)::text = ANY ((ARRAY['submitted'::character varying, "
                      "'pending_new'::character varying, 'accepted'::character varying, "
                      "'new'::character varying])::text[]))")


def _load(pg_server: ScratchServer, *names: str) -> str:
    """A fresh database made of fixtures/adoption/NAME.sql files, in order."""
    url = pg_server.create()
    for name in names:
        run_sql_file(url, ADOPTION / f"{name}.sql")
    return url


def _load_layout(pg_server: ScratchServer, profile: str) -> str:
    """A fresh database of a later layout's clean desk (fixtures/layouts/PROFILE/)."""
    url = pg_server.create()
    for part in (LAYOUTS[profile].schema, LAYOUTS[profile].clean):
        run_sql_file(url, part)
    return url


def _as_psql_runs_it(url: str, path: Path) -> list[str]:
    """Run a script as `psql -f` does: each statement on its own, going on after one fails."""
    failed = []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in path.read_text().split(";\n"):
            if not any(line.strip() and not line.lstrip().startswith("--")
                       for line in statement.splitlines()):
                continue
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                failed.append(type(exc).__name__)
    return failed


def _migrate(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, list[str], list[str]]:
    """Run `tradewatch migrate ARGS` on url: its exit code, stdout lines and stderr lines."""
    code = cli.main(["migrate", *args, "--database-url", url])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err.splitlines()


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )}


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


# ---- 1. status only reads ----

@pytest.mark.parametrize("state", ["empty", "hand-made", "migrated"])
def test_status_only_reads_in_a_read_only_session(
    pg_server: ScratchServer, migrated_db: str, state: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    if state == "migrated":
        url = migrated_db
    else:
        url = _load(pg_server, BEFORE_PHASE2) if state == "hand-made" else pg_server.create()
    before = checksum(url)
    sessions: list[tuple[object, str]] = []
    connect = db.connect

    def recording(url: str, **options: Any) -> psycopg.Connection:
        conn = connect(url, **options)
        row = conn.execute("SELECT current_setting('default_transaction_read_only')").fetchone()
        sessions.append((options.get("read_only"), row[0] if row else ""))
        return conn

    def no_writer(*_: object) -> None:
        raise AssertionError("status opened yoyo's backend, which creates its tables")

    monkeypatch.setattr(db, "connect", recording)
    monkeypatch.setattr(migrate, "get_backend", no_writer)
    code, out, err = _migrate(capsys, url, "status")
    assert (code, err) == (0, [])
    assert len(out) == len(migrate.migration_ids())
    assert sessions
    assert all(session == (True, "on") for session in sessions)
    assert checksum(url) == before
    if state != "migrated":
        assert not _tables(url) & YOYO_TABLES
        assert all(line.startswith("pending  ") for line in out)


# ---- 2. --baseline first checks that the database has what 0001-0002 make ----

MISSING_CASES = {
    "empty": ("", [
        "0001.base-schema: cannot baseline: missing table securities",
        "0001.base-schema: cannot baseline: missing table trading_cycles",
        "0001.base-schema: cannot baseline: missing table positions",
        "0002.orders-table: cannot baseline: missing table orders",
    ]),
    "before-phase1": ("DROP TABLE orders", [
        "0002.orders-table: cannot baseline: missing table orders",
    ]),
    "no-metadata": ("ALTER TABLE orders DROP COLUMN metadata", [
        "0002.orders-table: cannot baseline: missing column orders.metadata",
    ]),
    "metadata-json": ("ALTER TABLE orders ALTER COLUMN metadata TYPE json", [
        "0002.orders-table: cannot baseline: orders.metadata is json, expected jsonb",
    ]),
    "columns-missing": (
        "DROP VIEW v_trade_pipeline_status; ALTER TABLE trading_cycles DROP COLUMN stopped_at;"
        " ALTER TABLE positions DROP COLUMN updated_at; ALTER TABLE orders DROP COLUMN filled_qty", [
            "0001.base-schema: cannot baseline: missing column trading_cycles.stopped_at",
            "0001.base-schema: cannot baseline: missing column positions.updated_at",
            "0002.orders-table: cannot baseline: missing column orders.filled_qty",
        ]),
}


@pytest.mark.parametrize("case", sorted(MISSING_CASES))
def test_baseline_names_what_is_missing_and_writes_nothing(
    pg_server: ScratchServer, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = MISSING_CASES[case]
    url = pg_server.create() if case == "empty" else _load(pg_server, BEFORE_PHASE2)
    if change:
        run_sql(url, change)
    before = checksum(url)
    code, out, err = _migrate(capsys, url, "apply", "--baseline", "--yes")
    assert code == 1
    assert err == [f"tradewatch migrate: {line}" for line in expected]
    assert not any("Plan for" in line for line in out)
    assert checksum(url) == before
    assert not _tables(url) & YOYO_TABLES


def test_baseline_asks_for_every_column_the_checks_and_later_migrations_read(empty_db: str) -> None:
    """BASELINE_REQUIRES names each column of the catalyst-2025-12 profile 0001-0002 make, and no other."""
    from tradewatch.schema_map.profiles import CATALYST_2025_12

    required = {(table, column) for tables in migrate.BASELINE_REQUIRES.values()
                for table, columns in tables.items() for column in columns}
    profile = CATALYST_2025_12.names
    mapped = {(profile[f"{field.partition('.')[0]}.table"], column)
              for field, column in profile.items() if column and not field.endswith(".table")}
    # 0003 adds order_purpose: a baseline cannot ask for it.
    assert mapped - required == {("orders", "order_purpose")}
    assert required - mapped == {("orders", "metadata"), ("orders", "rejection_reason")}
    migrate.apply(empty_db, target="0002.orders-table")
    made = set(_rows(empty_db, "SELECT table_name, column_name FROM information_schema.columns"
                               " WHERE table_schema = 'public'"))
    assert required <= made


def test_apply_without_baseline_on_a_hand_made_database_refuses_and_writes_nothing(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load(pg_server, BEFORE_PHASE2)
    before = checksum(url)
    code, _, err = _migrate(capsys, url, "apply", "--yes")
    assert code == 1
    assert err == [
        "tradewatch migrate: 0001.base-schema: the database already has securities, trading_cycles,"
        " positions, which this migration creates: adopt it with 'apply --baseline', which checks"
        " them and records 0001.base-schema, 0002.orders-table without running them",
        "tradewatch migrate: 0002.orders-table: the database already has orders, which this"
        " migration creates: adopt it with 'apply --baseline', which checks them and records"
        " 0001.base-schema, 0002.orders-table without running them",
    ]
    assert checksum(url) == before


# ---- 3. a baselined migration is never rolled back ----

def test_rollback_refuses_to_undo_a_baselined_migration(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load(pg_server, BEFORE_PHASE2)
    code, out, _ = _migrate(capsys, url, "apply", "--baseline", "--yes")
    assert code == 0
    assert "recorded 2 migration(s) as applied (not run)" in out
    assert _rows(url, "SELECT migration_id FROM _tradewatch_baseline ORDER BY 1") == [
        ("0001.base-schema",), ("0002.orders-table",)]
    code, out, _ = _migrate(capsys, url, "status")
    assert out[:3] == ["baselined  0001.base-schema", "baselined  0002.orders-table",
                       "applied  0003.order-purpose"]
    for args in (("--to", "zero"), ("--to", "0001")):
        before = checksum(url)
        code, out, err = _migrate(capsys, url, "rollback", "--yes", *args)
        assert code == 1
        assert err == [
            "tradewatch migrate: 0002.orders-table: refusing to roll back: --baseline recorded it"
            " without running it, so its rollback would drop the desk's own orders; roll back"
            " --to 0002.orders-table at the furthest; nothing written"
        ]
        assert checksum(url) == before
    # Down to the baseline is allowed; one step further is not.
    assert _migrate(capsys, url, "rollback", "--to", "0002", "--yes")[0] == 0
    before = checksum(url)
    code, _, err = _migrate(capsys, url, "rollback", "--yes")
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("tradewatch migrate: 0002.orders-table: refusing")
    assert checksum(url) == before
    assert "orders" in _tables(url)


def test_a_database_baselined_before_tradewatch_kept_its_record_is_protected_too(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load(pg_server, BEFORE_PHASE2)
    migrate.baseline(url)
    # An adoption by an earlier tradewatch left only yoyo's log, where each mark is written.
    run_sql(url, "DROP TABLE _tradewatch_baseline")
    assert [s.baselined for s in migrate.status(url)][:3] == [True, True, False]
    before = checksum(url)
    code, _, err = _migrate(capsys, url, "rollback", "--to", "zero", "--yes")
    assert code == 1
    assert err[0].startswith("tradewatch migrate: 0002.orders-table: refusing to roll back")
    assert checksum(url) == before


def test_a_rollback_that_would_drop_purposes_the_desk_wrote_is_refused(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adopted, then the desk writes an order with its purpose: 0003's rollback would drop the
    column and the purpose with it, so it is refused; nothing written."""
    url = _load(pg_server, BEFORE_PHASE2)
    assert _migrate(capsys, url, "apply", "--baseline", "--yes")[0] == 0
    run_sql(url, "INSERT INTO orders (position_id, security_id, side, order_type, quantity, status, "
                 "order_purpose) SELECT position_id, security_id, 'sell', 'stop', 1, 'new', 'stop_loss' "
                 "FROM positions LIMIT 1")
    before = checksum(url)
    code, _, err = _migrate(capsys, url, "rollback", "--to", "0002", "--yes")
    assert (code, err) == (1, [
        "tradewatch migrate: 0003.order-purpose: refusing to roll back: its rollback drops "
        "orders.order_purpose, where 1 order(s) written since it ran hold the desk's own purposes; "
        "nothing written"])
    assert checksum(url) == before


def test_a_rollback_that_would_drop_the_desks_tables_is_refused(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database tradewatch made, then traded in: rolling back to zero would drop the desk's orders
    and positions with their tables. Refused, nothing written; an empty one rolls back."""
    assert _migrate(capsys, empty_db, "apply", "--yes")[0] == 0
    run_sql_file(empty_db, SEEDS_DIR / "clean.sql")
    before = checksum(empty_db)
    code, _, err = _migrate(capsys, empty_db, "rollback", "--to", "zero", "--yes")
    assert code == 1
    assert err == ["tradewatch migrate: 0002.orders-table: refusing to roll back: its rollback drops "
                   "orders, where 15 order(s) are the desk's own, not copies it made; nothing written"]
    assert checksum(empty_db) == before
    run_sql(empty_db, "TRUNCATE orders")
    code, _, err = _migrate(capsys, empty_db, "rollback", "--to", "zero", "--yes")
    assert (code, err) == (1, [
        "tradewatch migrate: 0001.base-schema: refusing to roll back: its rollback drops positions, "
        "trading_cycles, securities, which hold the desk's rows; nothing written"])
    run_sql(empty_db, "TRUNCATE positions, trading_cycles, securities CASCADE")
    assert _migrate(capsys, empty_db, "rollback", "--to", "zero", "--yes")[0] == 0


# ---- 4. every error line names its migration ----

def test_failures_name_the_migration_they_come_from(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load(pg_server, BEFORE_PHASE2, GUIDE_PHASE2)
    # A purpose outside Phase 2's vocabulary: 0003's constraint cannot hold.
    run_sql(url, "UPDATE orders SET order_purpose = 'hedge' WHERE order_id = 10")
    code, _, err = _migrate(capsys, url, "apply", "--baseline", "--yes")
    assert code == 1
    assert err == ['tradewatch migrate: 0003.order-purpose: check constraint "orders_order_purpose_check"'
                   ' of relation "orders" is violated by some row']
    assert [s.applied for s in migrate.status(url)][:3] == [True, True, False]
    run_sql(url, "UPDATE orders SET order_purpose = 'entry' WHERE order_id = 10")
    assert _migrate(capsys, url, "apply", "--yes")[0] == 0
    # A rollback that cannot run says which migration's rollback it was, and changes nothing.
    migrate.rollback(url, target="0005.drop-legacy-columns")
    run_sql(url, "ALTER TABLE positions ADD COLUMN alpaca_status VARCHAR(50)")
    before = checksum(url)
    code, _, err = _migrate(capsys, url, "rollback", "--yes")
    assert code == 1
    assert err == ['tradewatch migrate: 0005.drop-legacy-columns: rollback: column "alpaca_status"'
                   ' of relation "positions" already exists']
    assert checksum(url) == before


# ---- 5. the desk's own idx_orders_pending is kept ----

def test_the_desks_idx_orders_pending_is_kept_beside_tradewatchs(pg_server: ScratchServer) -> None:
    url = _load(pg_server, BEFORE_PHASE2)
    index = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'idx_orders_pending%' ORDER BY 1"
    migrate.baseline(url)
    assert "0006.check-indexes" in migrate.apply(url)
    found = dict(_rows(url, index))
    assert found["idx_orders_pending"] == DESK_PENDING_INDEX
    assert "(status) WHERE" in found["idx_orders_pending_checks"]
    migrate.rollback(url, target="0005.drop-legacy-columns")
    assert _rows(url, index) == [("idx_orders_pending", DESK_PENDING_INDEX)]
    migrate.apply(url)
    assert len(_rows(url, index)) == 2


# ---- 6. the states the seed guide's own scripts leave adopt cleanly, and check without errors ----

def test_the_guides_view_fails_to_create_on_the_real_table(pg_server: ScratchServer) -> None:
    url = _load(pg_server, BEFORE_PHASE2, GUIDE_PHASE2)
    with pytest.raises(psycopg.errors.UndefinedColumn, match=r"tc\.cycle_date"):
        run_sql_file(url, ADOPTION / "guide-phase2-view.sql")
    assert _rows(url, "SELECT count(*) FROM pg_views WHERE viewname = 'v_trade_pipeline_status'") == [(1,)]
    assert _as_psql_runs_it(url, ADOPTION / "guide-phase2-view.sql") == ["UndefinedColumn", "UndefinedTable"]
    assert _rows(url, "SELECT count(*) FROM pg_views WHERE viewname = 'v_trade_pipeline_status'") == [(0,)]


GUIDE_STATES = {
    "before-phase2": (BEFORE_PHASE2,),
    "after-guide-phase2-old-view": (BEFORE_PHASE2, GUIDE_PHASE2),
    "after-guide-phase2-no-view": (BEFORE_PHASE2, GUIDE_PHASE2, "guide-phase2-view"),
}


@pytest.mark.parametrize("state", sorted(GUIDE_STATES))
def test_the_guides_states_adopt_cleanly_and_check_without_errors(
    pg_server: ScratchServer, state: str, run_checks: RunChecks, capsys: pytest.CaptureFixture[str]
) -> None:
    *fixtures, last = GUIDE_STATES[state]
    url = _load(pg_server, *fixtures)
    if last == "guide-phase2-view":
        _as_psql_runs_it(url, ADOPTION / f"{last}.sql")
    else:
        run_sql_file(url, ADOPTION / f"{last}.sql")
    legacy_before = _legacy_values(url)
    code, out, err = _migrate(capsys, url, "apply", "--baseline", "--yes")
    assert (code, err) == (0, []), err
    assert out[-1] == f"applied {len(migrate.migration_ids()) - 2} migration(s)"
    assert [(s.applied, s.baselined) for s in migrate.status(url)] == (
        [(True, True)] * 2 + [(True, False)] * (len(migrate.migration_ids()) - 2))
    # What the legacy columns held is kept in the orders' metadata.
    assert legacy_before <= _kept_legacy_values(url)
    result, report = run_checks(url)
    outcomes = {test["nodeid"]: test["outcome"] for test in report["tests"]}
    errors = [test["nodeid"] for test in report["tests"] if test["metadata"].get("error")]
    assert errors == []
    assert "error" not in report["tradewatch"]
    assert "error" not in result.parseoutcomes()
    assert "errors" not in result.parseoutcomes()
    schema = {nodeid: outcome for nodeid, outcome in outcomes.items() if "test_schema.py" in nodeid}
    assert set(schema.values()) == {"passed"}
    assert len(schema) >= 5


def _legacy_values(url: str) -> set[tuple[str, str]]:
    """Every legacy status and error the positions hold."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT to_jsonb(p) FROM positions p").fetchall()
    return {(key, row[0][key]) for row in rows for key in ("alpaca_status", "alpaca_error")
            if row[0].get(key) is not None}


def _kept_legacy_values(url: str) -> set[tuple[str, str]]:
    """Every legacy status and error kept in the orders' metadata."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT metadata FROM orders WHERE metadata IS NOT NULL").fetchall()
    return {(key.removeprefix("legacy_"), row[0][key]) for row in rows
            for key in ("legacy_alpaca_status", "legacy_alpaca_error") if key in row[0]}


# ---- 8. layouts tradewatch does not migrate: one line, nothing written ----

FOREIGN = ("catalyst-2026-02", "catalyst-2026-04", "catalyst-international")
ACTIONS = {"status": ((), 0), "apply": (("--yes",), 1), "apply-baseline": (("--baseline", "--yes"), 1),
           "rollback": (("--to", "zero", "--yes"), 1)}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("layout", FOREIGN)
def test_a_layout_tradewatch_does_not_migrate_is_left_alone(
    pg_server: ScratchServer, layout: str, action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _load_layout(pg_server, layout)
    args, expected_code = ACTIONS[action]
    before = checksum(url)
    code, out, err = _migrate(capsys, url, action.partition("-")[0], *args)
    assert code == expected_code
    lines = out + err
    assert len(lines) == 1
    assert f"has the {layout} layout, which tradewatch does not migrate" in lines[0]
    assert (out if action == "status" else err) == lines
    assert checksum(url) == before
    assert not _tables(url) & YOYO_TABLES

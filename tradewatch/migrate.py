"""Apply, roll back and inspect the plain-SQL migrations with yoyo; adopt a live database."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import conninfo, sql
from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout
from yoyo.migrations import get_migration_hash

from tradewatch import db, resources, text
from tradewatch.schema_map import catalog as catalog_reader
from tradewatch.schema_map.catalog import Catalog
from tradewatch.schema_map.profiles import CATALYST_2025_12, Profile
from tradewatch.schema_map.resolve import SchemaMapError, detect

# The checkout's migrations/, or the installed package's copy (see tradewatch.resources).
MIGRATIONS_DIR = resources.MIGRATIONS
# The migrations a database already at Phase 1 has had by hand.
PHASE1_IDS = ("0001.base-schema", "0002.orders-table")
# yoyo's record of applied migrations and its log, in the search path's first schema.
YOYO_MIGRATIONS, YOYO_LOG = "_yoyo_migration", "_yoyo_log"
# tradewatch's record of the migrations --baseline recorded without running, next to yoyo's log.
BASELINE_TABLE = "_tradewatch_baseline"

# What the baselined migrations create that tradewatch reads afterwards, by the migration that
# creates it: every table and column the checks read on the catalyst-2025-12 layout (its
# profile's fields, less orders.order_purpose, which 0003 adds), and what 0003-0006 read
# besides: orders.metadata (0003 keeps changed sides in it, 0005 the legacy values) and
# orders.rejection_reason (0005's rollback). A baseline is refused unless each is there.
BASELINE_REQUIRES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "0001.base-schema": {
        "securities": ("security_id", "symbol"),
        "trading_cycles": ("cycle_id", "status", "started_at", "stopped_at", "updated_at"),
        "positions": ("position_id", "cycle_id", "security_id", "side", "quantity", "status",
                      "entry_price", "unrealized_pnl", "realized_pnl", "opened_at", "closed_at",
                      "close_reason", "updated_at"),
    },
    "0002.orders-table": {
        "orders": ("order_id", "position_id", "security_id", "cycle_id", "parent_order_id", "side",
                   "order_type", "quantity", "status", "alpaca_order_id", "alpaca_client_order_id",
                   "filled_qty", "filled_avg_price", "created_at", "submitted_at", "updated_at",
                   "filled_at", "cancelled_at", "expired_at", "rejection_reason", "metadata"),
    },
}
# Columns whose type the later migrations rely on: jsonb operators (||, ?, -) on metadata.
BASELINE_TYPES: Mapping[tuple[str, str], str] = {("orders", "metadata"): "jsonb"}


class MigrationError(RuntimeError):
    """A migration was refused, or failed and was undone: one line per problem, naming its migration."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MigrationState:
    """One migration and whether the database has it (baselined: recorded, never run here)."""

    id: str
    applied: bool
    baselined: bool = False


@dataclass(frozen=True)
class Inspection:
    """What one read-only session saw: the layout, what yoyo recorded, what --baseline recorded."""

    ids: tuple[str, ...]
    applied: frozenset[str]
    baselined: frozenset[str]
    # The layout detected; None where there is none to tell (an empty database).
    layout: Profile | None
    catalog: Catalog
    column_types: Mapping[tuple[str, str], str]
    # Whether the session's role may create tables where yoyo keeps its records (its first schema).
    may_create: bool = True
    role: str = ""
    # What rolling back a migration would destroy that it did not make, by migration id.
    losses: Mapping[str, str] = field(default_factory=dict)

    @property
    def states(self) -> list[MigrationState]:
        """Every migration of the checkout in order, with whether it is applied or baselined."""
        return [MigrationState(i, i in self.applied, i in self.baselined) for i in self.ids]

    @property
    def pending(self) -> list[str]:
        """The migrations not applied, in order."""
        return [i for i in self.ids if i not in self.applied]


@dataclass(frozen=True)
class Plan:
    """What one migrate action would write."""

    baseline: tuple[str, ...] = ()
    apply: tuple[str, ...] = ()
    rollback: tuple[str, ...] = ()


def yoyo_url(url: str) -> str:
    """Rewrite a libpq URL or key=value string for yoyo's psycopg 3 backend."""
    params = conninfo.conninfo_to_dict(url)
    dbname = str(params.pop("dbname", "") or params.get("user") or "")
    # Text both ways: on a SQL_ASCII database psycopg would send yoyo's text parameters as bytes.
    params.setdefault("client_encoding", "UTF8")
    # Every other parameter goes in the query string, where yoyo passes it to psycopg as is.
    query = urlencode({key: str(value) for key, value in params.items() if value is not None})
    return f"postgresql+psycopg:///{dbname}?{query}"


def migrations_dir() -> Path:
    """The migrations folder (the checkout's or the package's), or a clear error where it is missing."""
    if not MIGRATIONS_DIR.is_dir():
        raise FileNotFoundError(
            f"expected the migrations in {MIGRATIONS_DIR}; reinstall tradewatch from a wheel or its "
            "checkout (pip install .), whose build copies them into the package"
        )
    return MIGRATIONS_DIR


def migration_ids() -> tuple[str, ...]:
    """Every migration of the checkout, in order (reading the files touches no database)."""
    return tuple(m.id for m in read_migrations(str(migrations_dir())))


# ---- Reading, in one read-only session: never creates yoyo's tables or anything else. ----

def inspect(url: str) -> Inspection:
    """Read the database's layout and migration records without writing anything."""
    ids = migration_ids()
    with db.connect(url, read_only=True, statement_timeout_s=60) as conn:
        try:
            found = catalog_reader.read(conn)
            applied = _applied(conn, found, ids)
            baselined = _baselined(conn, found) & applied
            types = _column_types(conn, found)
            row = conn.execute("SELECT current_user, current_schema() IS NOT NULL AND "
                               "has_schema_privilege(current_schema(), 'CREATE')").fetchone()
            losses = _rollback_losses(conn, found, applied)
        except psycopg.Error as exc:
            raise MigrationError([f"cannot read the migration records: {_explain(exc)}"]) from exc
    role, may_create = row if row else ("", False)
    return Inspection(ids, applied, baselined, _layout(found), found, types, bool(may_create), str(role),
                      losses)


BASE_TABLES = ("positions", "trading_cycles", "securities")  # 0001 makes them empty
ORDERS_TABLE, PURPOSES = "0002.orders-table", "0003.order-purpose"


def _rollback_losses(conn: psycopg.Connection, found: Catalog, applied: Collection[str]) -> dict[str, str]:
    """What rolling back each applied migration would destroy that it did not make: the desk's rows
    in the tables 0001 made, orders written since 0002 copied them in, purposes the desk wrote
    since 0003 (its rollback drops the column)."""
    losses: dict[str, str] = {}
    held = [relation.name for relation in map(found.find, BASE_TABLES) if relation is not None
            and conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(
                relation.identifier)).fetchone() == (True,)]
    if "0001.base-schema" in applied and held:
        losses["0001.base-schema"] = f"its rollback drops {', '.join(held)}, which hold the desk's rows"
    orders, log = found.find("orders"), found.find(YOYO_MIGRATIONS)
    if orders is None or log is None or not {"migration_id", "applied_at_utc"} <= set(log.columns):
        return losses
    ran = sql.SQL("(SELECT max(m.applied_at_utc) AT TIME ZONE 'UTC' FROM {} AS m WHERE m.migration_id = %s)"
                  ).format(log.identifier)
    if ORDERS_TABLE in applied and "metadata" in orders.columns:
        # 0002 copied the orders the positions' legacy columns held (they still do), each marked
        # so; any other order exists nowhere else.
        others = conn.execute(sql.SQL(
            "SELECT count(*) FROM {} AS o WHERE NOT (COALESCE(o.metadata, '{{}}'::jsonb) ? 'copied_from')"
        ).format(orders.identifier)).fetchone()
        if others and others[0]:
            losses[ORDERS_TABLE] = (f"its rollback drops orders, where {others[0]} order(s) are the "
                                    "desk's own, not copies it made")
    if PURPOSES in applied and {"order_purpose", "created_at", "metadata"} <= set(orders.columns):
        # Orders written since 0003 ran carry the desk's own purposes; its rollback drops the
        # column unless the column was there before it (said in the constraint's comment).
        since = sql.SQL(
            "SELECT count(*) FROM {orders} AS o WHERE o.order_purpose IS NOT NULL "
            "AND NOT (COALESCE(o.metadata, '{{}}'::jsonb) ? 'purpose_set_by_phase2') "
            "AND o.created_at > {ran} "
            "AND COALESCE(obj_description((SELECT c.oid FROM pg_constraint AS c "
            "WHERE c.conname = 'orders_order_purpose_check' AND c.conrelid = {regclass}::regclass), "
            "'pg_constraint'), '') NOT LIKE 'tradewatch 0003.order-purpose: order_purpose was there%%'"
        ).format(orders=orders.identifier, ran=ran, regclass=sql.Literal(orders.identifier.as_string(conn)))
        row = conn.execute(since, (PURPOSES,)).fetchone()
        if row and row[0]:
            losses[PURPOSES] = (f"its rollback drops orders.order_purpose, where {row[0]} order(s) "
                                "written since it ran hold the desk's own purposes")
    return losses


def status(url: str) -> list[MigrationState]:
    """Every migration in order, with whether the database has it applied (reads only)."""
    return inspect(url).states


def _layout(found: Catalog) -> Profile | None:
    try:
        return detect(found, {})
    except SchemaMapError:
        # No positions table (an empty database), or one no profile describes: the plan's own
        # checks say what is there and what is missing.
        return None


def _applied(conn: psycopg.Connection, found: Catalog, ids: tuple[str, ...]) -> frozenset[str]:
    """The migrations yoyo recorded as applied (none where it has no table yet)."""
    table = found.find(YOYO_MIGRATIONS)
    if table is None:
        return frozenset()
    by_hash = {get_migration_hash(i): i for i in ids}
    if "migration_hash" in table.columns:
        query = sql.SQL("SELECT migration_hash FROM {}").format(table.identifier)
        return frozenset(by_hash[h] for (h,) in conn.execute(query) if h in by_hash)
    # yoyo's first bookkeeping schema kept the ids themselves.
    query = sql.SQL("SELECT id FROM {}").format(table.identifier)
    return frozenset(i for (i,) in conn.execute(query) if i in ids)


def _baselined(conn: psycopg.Connection, found: Catalog) -> frozenset[str]:
    """Migrations recorded without being run: by --baseline, or marked so in yoyo's log."""
    marked: set[str] = set()
    ours = found.find(BASELINE_TABLE)
    if ours is not None:
        query = sql.SQL("SELECT migration_id FROM {}").format(ours.identifier)
        marked.update(i for (i,) in conn.execute(query))
    log = found.find(YOYO_LOG)
    if log is not None and {"migration_id", "operation", "created_at_utc"} <= set(log.columns):
        # A database adopted before tradewatch kept its own record: yoyo logged each mark.
        query = sql.SQL("""
            SELECT migration_id FROM (
                SELECT DISTINCT ON (migration_id) migration_id, operation FROM {}
                WHERE migration_id IS NOT NULL
                  AND operation IN ('apply', 'mark', 'rollback', 'unmark')
                ORDER BY migration_id, created_at_utc DESC
            ) AS last WHERE operation = 'mark'
        """).format(log.identifier)
        marked.update(i for (i,) in conn.execute(query))
    return frozenset(marked)


def _column_types(conn: psycopg.Connection, found: Catalog) -> dict[tuple[str, str], str]:
    """The types of the columns whose type a baseline checks."""
    types = {}
    for (table, column) in BASELINE_TYPES:
        relation = found.find(table)
        if relation is None or column not in relation.columns:
            continue
        row = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            (relation.schema, relation.name, column),
        ).fetchone()
        if row is not None:
            types[(table, column)] = str(row[0])
    return types


# ---- Planning: every refusal is found here, before anything is written. ----

def layout_refusal(state: Inspection) -> str | None:
    """Why tradewatch must not migrate this database's layout, or None when it may."""
    if state.layout is None or state.layout.migrated:
        return None
    return (f"this database has the {state.layout.name} layout, which tradewatch does not "
            f"migrate (its migrations build and complete {CATALYST_2025_12.name})")


def plan_apply(state: Inspection, target: str | None = None, *, baseline: bool = False) -> Plan:
    """What apply (with --baseline: first record 0001-0002) would do; MigrationError when refused."""
    _refuse_layout(state)
    if not state.may_create and state.catalog.find(YOYO_MIGRATIONS) is None:
        # yoyo would make its record tables first, and fail on the first without saying why.
        raise MigrationError([
            f"role {state.role} may not create tables in the first schema of its search_path, where "
            "the migration records are kept; migrate as the role that owns the desk's tables; "
            "nothing written"])
    marks = tuple(i for i in PHASE1_IDS if i not in state.applied) if baseline else ()
    problems = baseline_problems(state, marks) if baseline else existing_tables(state, target)
    if problems:
        raise MigrationError(problems)
    pending = [i for i in state.pending if i not in marks]
    return Plan(baseline=marks, apply=tuple(_up_to(target, pending, state.ids)))


def plan_rollback(state: Inspection, target: str | None = None) -> Plan:
    """What rollback would undo, newest first; MigrationError when it would undo a baselined one."""
    _refuse_layout(state)
    applied = [i for i in reversed(state.ids) if i in state.applied]
    if target is None:
        undo = applied[:1]
    elif target == "zero":
        undo = applied
    else:
        _known(target, applied)
        undo = applied[: applied.index(target)]
    baselined = [i for i in undo if i in state.baselined]
    if baselined:
        first = baselined[0]
        raise MigrationError([
            f"{first}: refusing to roll back: --baseline recorded it without running it, so its "
            f"rollback would drop the desk's own {_creates(first)}; roll back --to {first} at the "
            "furthest; nothing written"
        ])
    lost = [i for i in undo if i in state.losses]
    if lost:
        # Nothing lost that tradewatch did not make: the desk's data outlive its migrations.
        raise MigrationError([f"{lost[0]}: refusing to roll back: {state.losses[lost[0]]}; nothing written"])
    return Plan(rollback=tuple(undo))


def baseline_problems(state: Inspection, marks: tuple[str, ...] | list[str]) -> list[str]:
    """One line per table, column or type the migrations to baseline would have made and is not there."""
    problems = []
    for migration in marks:
        for table, columns in BASELINE_REQUIRES.get(migration, {}).items():
            relation = state.catalog.find(table)
            if relation is None:
                problems.append(f"{migration}: cannot baseline: missing table {table}")
                continue
            if relation.is_view:
                problems.append(f"{migration}: cannot baseline: {table} is a view, not a table")
            missing = [c for c in columns if c not in relation.columns]
            problems += [f"{migration}: cannot baseline: missing column {table}.{c}" for c in missing]
            for (typed_table, column), expected in BASELINE_TYPES.items():
                found = state.column_types.get((typed_table, column))
                if typed_table == table and column not in missing and found != expected:
                    problems.append(f"{migration}: cannot baseline: {table}.{column} is {found}, "
                                    f"expected {expected}")
    return problems


def existing_tables(state: Inspection, target: str | None = None) -> list[str]:
    """One line per pending migration whose tables the database has already (made by hand)."""
    problems = []
    for migration in _up_to(target, state.pending, state.ids):
        there = [t for t in BASELINE_REQUIRES.get(migration, {}) if state.catalog.find(t)]
        if there:
            problems.append(
                f"{migration}: the database already has {', '.join(there)}, which this migration "
                "creates: adopt it with 'apply --baseline', which checks them and records "
                f"{', '.join(PHASE1_IDS)} without running them"
            )
    return problems


def resolve_id(ids: tuple[str, ...] | list[str], target: str | None) -> str | None:
    """Expand a migration id's unique prefix ('0003' is '0003.order-purpose')."""
    if target is None or target == "zero":
        return target
    matches = [i for i in ids if i == target or i.startswith(f"{target}.")]
    if len(matches) != 1:
        raise ValueError(f"no migration {target!r} here; expected one of {', '.join(ids)}")
    return matches[0]


def _refuse_layout(state: Inspection) -> None:
    refusal = layout_refusal(state)
    if refusal:
        raise MigrationError([f"{refusal}; nothing written"])


def _creates(migration: str) -> str:
    """The tables a baselined migration stands for, as a refusal names them."""
    return ", ".join(BASELINE_REQUIRES.get(migration, {})) or "schema"


def _known(target: str, ids: list[str]) -> None:
    if target not in ids:
        raise ValueError(f"no migration {target!r} here; expected one of {', '.join(ids) or 'none'}")


def _up_to(target: str | None, todo: list[str], ids: tuple[str, ...]) -> list[str]:
    """The migrations of todo up to and including target (all of them when target is None)."""
    if target is None:
        return todo
    _known(target, list(ids))
    return [i for i in todo if ids.index(i) <= ids.index(target)]


# ---- Writing: only after the plan was made without refusal, and again under yoyo's lock. ----

@contextmanager
def _writer(url: str) -> Iterator[tuple[Any, Any]]:
    """yoyo's backend, holding its lock (this creates yoyo's tables where they are missing)."""
    try:
        backend = get_backend(yoyo_url(url))
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise db.unreachable(url, exc) from None
    try:
        with backend.lock():
            yield backend, read_migrations(str(migrations_dir()))
    except LockTimeout as exc:
        raise MigrationError([f"cannot take the migration lock: {text.one_line(str(exc))}"]) from None
    finally:
        backend.connection.close()


def apply(url: str, *, target: str | None = None) -> list[str]:
    """Apply pending migrations in order (each in its own transaction); return their ids."""
    if not plan_apply(inspect(url), target).apply:
        return []
    with _writer(url) as (backend, migrations):
        todo = plan_apply(inspect(url), target).apply  # Again: another run may have gone first.
        _one_by_one(backend.to_apply(migrations), todo, migrations, backend.apply_migrations, "")
        return list(todo)


def rollback(url: str, *, target: str | None = None) -> list[str]:
    """Roll back the newest migration, or every one after target ('zero' for all); never a baselined one."""
    if not plan_rollback(inspect(url), target).rollback:
        return []
    with _writer(url) as (backend, migrations):
        undo = plan_rollback(inspect(url), target).rollback
        _one_by_one(backend.to_rollback(migrations), undo, migrations, backend.rollback_migrations,
                    "rollback: ")
        return list(undo)


def _one_by_one(
    ordered: Any, wanted: Collection[str], migrations: Any, run: Callable[[Any], None], what: str
) -> None:
    """Run each wanted migration alone, in yoyo's order, so an error names the one it came from."""
    for migration in ordered:
        if migration.id not in wanted:
            continue
        try:
            run(migrations.filter(lambda m, one=migration: m is one))
        except psycopg.Error as exc:
            raise MigrationError([f"{migration.id}: {what}{_explain(exc)}"]) from exc


def baseline(url: str) -> list[str]:
    """Record 0001-0002 as applied without running them, once the database shows what they make."""
    if not plan_apply(inspect(url), baseline=True).baseline:
        return []
    with _writer(url) as (backend, migrations):
        marks = plan_apply(inspect(url), baseline=True).baseline
        backend.ensure_internal_schema_updated()  # Outside the transaction, as yoyo requires.
        with backend.transaction():
            conn = backend.connection
            conn.execute(sql.SQL("""
                CREATE TABLE IF NOT EXISTS {} (
                    migration_id   TEXT PRIMARY KEY,
                    migration_hash TEXT NOT NULL,
                    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
                    checked        TEXT NOT NULL
                )
            """).format(sql.Identifier(BASELINE_TABLE)))
            for migration in migrations:
                if migration.id not in marks:
                    continue
                backend.mark_one(migration)
                conn.execute(
                    sql.SQL("INSERT INTO {} (migration_id, migration_hash, checked) VALUES (%s, %s, %s)"
                            " ON CONFLICT (migration_id) DO NOTHING").format(sql.Identifier(BASELINE_TABLE)),
                    (migration.id, migration.hash, _checked(migration.id)),
                )
        return list(marks)


def _checked(migration: str) -> str:
    """What a baseline verified was there, as recorded beside it."""
    return "; ".join(f"{table}({', '.join(columns)})"
                     for table, columns in BASELINE_REQUIRES.get(migration, {}).items())


def _explain(exc: psycopg.Error) -> str:
    """The server's message and hint, on one line: they say what was refused and how to proceed."""
    message = exc.diag.message_primary or str(exc).strip()
    said = f"{message} (hint: {exc.diag.message_hint})" if exc.diag.message_hint else message
    return text.one_line(said)

"""Post-Phase-2 schema: legacy columns gone, new columns there, the status view working."""

from __future__ import annotations

import psycopg
from psycopg import sql

from tradewatch.findings import Finding
from tradewatch.watched import WatchedDatabase

LEGACY_POSITION_COLUMNS = ("alpaca_order_id", "alpaca_status", "alpaca_error")
REQUIRED_COLUMNS = (("orders", "order_purpose"),)
PIPELINE_VIEW = "v_trade_pipeline_status"
PIPELINE_VIEW_COLUMNS = (
    "cycle_id", "cycle_date", "cycle_status", "cycle_start", "cycle_end", "cycle_updated",
    "orders_total", "orders_pending", "orders_filled", "orders_cancelled",
    "positions_total", "positions_open", "daily_pnl", "last_order_at",
)

_COLUMN_EXISTS = """
    SELECT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s
    )
"""


def _column_exists(watched: WatchedDatabase, table: str, column: str) -> bool:
    row = watched.conn.execute(_COLUMN_EXISTS, (table, column)).fetchone()
    return bool(row and row[0])


def legacy_column_present(watched: WatchedDatabase, column: str) -> list[Finding]:
    """A legacy broker column still on positions means Phase 2 has not finished."""
    if not _column_exists(watched, "positions", column):
        return []
    return [Finding(
        "LEGACY_COLUMN_PRESENT", "WARNING", {"table": "positions", "column": column},
        f"positions.{column} is still there: Phase 2 has not dropped it",
    )]


def missing_column(watched: WatchedDatabase, table: str, column: str) -> list[Finding]:
    """A column the Phase 2 schema adds is missing."""
    if _column_exists(watched, table, column):
        return []
    return [Finding(
        "MISSING_COLUMN", "CRITICAL", {"table": table, "column": column},
        f"{table}.{column} is missing: run the Phase 2 migrations (tradewatch migrate apply)",
    )]


def _view_broken(problem: str, **details: object) -> list[Finding]:
    return [Finding(
        "VIEW_BROKEN", "CRITICAL", {"table": PIPELINE_VIEW},
        f"{PIPELINE_VIEW} {problem}", details=details,
    )]


def view_columns_missing(watched: WatchedDatabase) -> list[Finding]:
    """The pipeline status view exists and exposes every column its readers name."""
    rows = watched.conn.execute(
        """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = %s
        """,
        (PIPELINE_VIEW,),
    ).fetchall()
    if not rows:
        return _view_broken("does not exist")
    present = {row[0] for row in rows}
    missing = [column for column in PIPELINE_VIEW_COLUMNS if column not in present]
    if missing:
        return _view_broken(f"lacks columns {', '.join(missing)}", missing_columns=missing)
    return []


def is_view_failure(exc: psycopg.Error) -> bool:
    """Whether an error reading the view is the view's own fault, not the check session's."""
    # What the view's definition raises (a missing table, column or function, a bad cast,
    # a division by zero, a RAISE) breaks the view for every reader. A timeout, a lost
    # connection (OperationalError) or a missing privilege means this check could not look.
    return (exc.sqlstate is not None
            and isinstance(exc, psycopg.DataError | psycopg.ProgrammingError)
            and not isinstance(exc, psycopg.errors.InsufficientPrivilege))


def view_fails_to_run(watched: WatchedDatabase) -> list[Finding]:
    """Selecting from the pipeline status view works."""
    query = sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(PIPELINE_VIEW))
    try:
        with watched.conn.transaction():
            watched.conn.execute(query)
    except psycopg.Error as exc:
        if not is_view_failure(exc):
            raise
        return _view_broken(f"fails to run: {exc.diag.message_primary}",
                            sqlstate=exc.diag.sqlstate)
    return []


"""Rules of the layout tradewatch migrates: legacy columns gone, Phase 2 columns there, the view working."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tradewatch.catalogue.common import trading_date
from tradewatch.catalogue.rule import EvaluatedRule, Sources
from tradewatch.findings import Finding
from tradewatch.schema_map.resolve import SchemaMap

LEGACY_POSITION_COLUMNS = ("alpaca_order_id", "alpaca_status", "alpaca_error")
PHASE2_COLUMNS = ("orders.order_purpose",)
PIPELINE_VIEW = "v_trade_pipeline_status"
PIPELINE_VIEW_COLUMNS = (
    "cycle_id", "cycle_date", "cycle_status", "cycle_start", "cycle_end", "cycle_updated",
    "orders_total", "orders_pending", "orders_filled", "orders_cancelled",
    "positions_total", "positions_open", "daily_pnl", "last_order_at",
)


def migrated(smap: SchemaMap) -> str | None:
    """Why the Phase 2 rules do not apply: the layout is not one tradewatch's migrations complete."""
    if smap.profile.migrated:
        return None
    return f"the {smap.profile.name} layout is not migrated by tradewatch (Phase 2 is catalyst-2025-12's)"


def _legacy_column(sources: Sources, column: str | None) -> Sequence[Finding]:
    assert column is not None
    table = sources.ctx.map.tables["positions"]
    if column not in table.columns:
        return []
    return [Finding(
        "LEGACY_COLUMN_PRESENT", "WARNING", {"table": table.name, "column": column},
        f"{table.name}.{column} is still there: Phase 2 has not dropped it (tradewatch migrate apply)",
    )]


LEGACY_COLUMN_DROPPED = EvaluatedRule(
    "legacy_column_dropped", "test_legacy_column_dropped", "schema", ("LEGACY_COLUMN_PRESENT",),
    "WARNING", "schema", "Phase 2 dropped the positions' legacy broker columns",
    cases=LEGACY_POSITION_COLUMNS,
    cases_about=", ".join(f"`{column}`" for column in LEGACY_POSITION_COLUMNS),
    needs=("positions.table",), requires=migrated, evaluate=_legacy_column,
)


def _missing_column(sources: Sources, case: str | None) -> Sequence[Finding]:
    assert case is not None
    table_name, _, column = case.partition(".")
    table = sources.catalog().find(table_name)
    if table is not None and column in table.columns:
        return []
    return [Finding(
        "MISSING_COLUMN", "CRITICAL", {"table": table_name, "column": column},
        f"{table_name}.{column} is missing: run the Phase 2 migrations (tradewatch migrate apply)",
    )]


PHASE2_COLUMN_PRESENT = EvaluatedRule(
    "phase2_column_present", "test_phase2_column_present", "schema", ("MISSING_COLUMN",), "CRITICAL",
    "schema", "the columns Phase 2 adds are there", cases=PHASE2_COLUMNS,
    cases_about=", ".join(f"`{c}`" for c in PHASE2_COLUMNS), requires=migrated, evaluate=_missing_column,
)


def _view_broken(problem: str, **details: object) -> list[Finding]:
    return [Finding("VIEW_BROKEN", "CRITICAL", {"table": PIPELINE_VIEW}, f"{PIPELINE_VIEW} {problem}",
                    details=details)]


def _view_columns(sources: Sources, case: str | None) -> Sequence[Finding]:
    view = sources.catalog().find(PIPELINE_VIEW)
    if view is None:
        return _view_broken("does not exist")
    missing = [column for column in PIPELINE_VIEW_COLUMNS if column not in view.columns]
    if missing:
        return _view_broken(f"lacks columns {', '.join(missing)}", missing_columns=missing)
    return []


PIPELINE_VIEW_HAS_ITS_COLUMNS = EvaluatedRule(
    "pipeline_view_has_its_columns", "test_pipeline_view_has_its_columns", "schema", ("VIEW_BROKEN",),
    "CRITICAL", "schema", f"`{PIPELINE_VIEW}` exists with every column its readers name",
    requires=migrated, evaluate=_view_columns,
)


def is_view_failure(exc: psycopg.Error) -> bool:
    """Whether an error reading the view is the view's own fault, not the check session's."""
    # What the view's definition raises (a missing table, column or function, a bad cast,
    # a division by zero, a RAISE) breaks the view for every reader. A timeout, a lost
    # connection (OperationalError) or a missing privilege means this check could not look.
    return (exc.sqlstate is not None
            and isinstance(exc, psycopg.DataError | psycopg.ProgrammingError)
            and not isinstance(exc, psycopg.errors.InsufficientPrivilege))


def view_row_of_day(conn: psycopg.Connection, day: date) -> dict[str, Any] | None:
    """The view's row of the day's latest cycle (None without one); the view's errors raised."""
    view = sql.Identifier(PIPELINE_VIEW)
    # The latest cycle is found first, so the view's per-cycle totals are computed for that
    # cycle alone, not for every cycle in the history.
    query = sql.SQL(
        "SELECT * FROM {view} WHERE cycle_id = (SELECT cycle_id FROM {view} WHERE cycle_date = %s "
        "ORDER BY cycle_start DESC LIMIT 1)").format(view=view)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        row: dict[str, Any] | None = cursor.execute(query, (day,)).fetchone()
    return row


def _view_runs(sources: Sources, case: str | None) -> Sequence[Finding]:
    conn = sources.connection()
    query = sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(PIPELINE_VIEW))
    # Any one row, and today's: the row the run's pipeline shows must not break unseen while
    # an older one still reads (a division by zero in today's totals alone).
    try:
        with conn.transaction():
            conn.execute(query)
        view_row_of_day(conn, trading_date(sources.ctx))
    except psycopg.Error as exc:
        if not is_view_failure(exc):
            raise
        return _view_broken(f"fails to run: {exc.diag.message_primary}", sqlstate=exc.diag.sqlstate)
    return []


PIPELINE_VIEW_RUNS = EvaluatedRule(
    "pipeline_view_runs", "test_pipeline_view_runs", "schema", ("VIEW_BROKEN",), "CRITICAL", "schema",
    f"selecting from `{PIPELINE_VIEW}` works, its row of today's cycle included", requires=migrated,
    evaluate=_view_runs,
)

RULES = (LEGACY_COLUMN_DROPPED, PHASE2_COLUMN_PRESENT, PIPELINE_VIEW_HAS_ITS_COLUMNS, PIPELINE_VIEW_RUNS)

"""Trading cycles: one per trading day, kept up to date while running."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from tradewatch.findings import Finding, jsonable
from tradewatch.queries import schema
from tradewatch.watched import WatchedDatabase

TRADING_ZONE = ZoneInfo("America/New_York")


def trading_date(watched: WatchedDatabase) -> date:
    """The desk's trading date at as-of: New York's calendar date, whatever the server's zone."""
    return watched.as_of.astimezone(TRADING_ZONE).date()


def stale(watched: WatchedDatabase, status: str) -> list[Finding]:
    """Cycles in a running status not updated within the threshold."""
    threshold = watched.settings.stale_cycle_minutes
    rows = watched.conn.execute(
        """
        SELECT cycle_id, updated_at,
               EXTRACT(EPOCH FROM (%(as_of)s - updated_at)) / 60 AS minutes_since_update
        FROM trading_cycles
        WHERE status = %(status)s AND updated_at < %(cutoff)s
        ORDER BY cycle_id
        """,
        {"status": status, "as_of": watched.as_of,
         "cutoff": watched.as_of - timedelta(minutes=threshold)},
    ).fetchall()
    return [
        Finding(
            "CYCLE_STALE", "WARNING", {"cycle_id": cycle_id},
            f"cycle {cycle_id} is {status} but not updated for {float(minutes):.0f} min "
            f"(threshold {threshold:g})",
            details={"status": status, "updated_at": updated_at,
                     "minutes_since_update": round(float(minutes), 1)},
        )
        for cycle_id, updated_at, minutes in rows
    ]


def pipeline_status(watched: WatchedDatabase) -> dict[str, Any] | None:
    """Today's latest cycle as v_trade_pipeline_status shows it; None without one or a view."""
    try:
        with watched.conn.transaction(), watched.conn.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(
                # The latest cycle is found first, so the view's per-cycle totals are
                # computed for that cycle alone, not for every cycle in the history.
                """
                SELECT * FROM v_trade_pipeline_status
                WHERE cycle_id = (
                    SELECT cycle_id FROM v_trade_pipeline_status
                    WHERE cycle_date = %s
                    ORDER BY cycle_start DESC
                    LIMIT 1
                )
                """,
                (trading_date(watched),),
            ).fetchone()
    except psycopg.Error as exc:
        # The schema checks report a broken view; today's cycle is still checked without it.
        if not schema.is_view_failure(exc):
            raise
        return None
    return None if row is None else jsonable(row)


def no_cycle_today(watched: WatchedDatabase) -> list[Finding]:
    """No cycle started on today's trading date (INFO: weekends and holidays have none)."""
    today = trading_date(watched)
    row = watched.conn.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM trading_cycles
            WHERE started_at >= %(start)s AND started_at < %(end)s
        )
        """,
        _day_bounds(today),
    ).fetchone()
    if row and row[0]:
        return []
    return [Finding(
        "NO_CYCLE", "INFO", {},
        f"no trading cycle for {today.isoformat()} (America/New_York)",
        details={"trading_date": today},
    )]


def _day_bounds(day: date) -> dict[str, Any]:
    """The instants a New York calendar day starts and ends (23 or 25 hours at DST changes)."""
    start = datetime.combine(day, time(), TRADING_ZONE)
    end = datetime.combine(day + timedelta(days=1), time(), TRADING_ZONE)
    return {"start": start, "end": end}

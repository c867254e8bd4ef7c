"""Position invariants that the database alone can check."""

from __future__ import annotations

from datetime import timedelta

from tradewatch import vocabulary
from tradewatch.findings import Finding
from tradewatch.watched import WatchedDatabase


def stale_pnl(watched: WatchedDatabase) -> list[Finding]:
    """Live positions whose P&L has not been refreshed within the threshold (INFO)."""
    threshold = watched.settings.stale_pnl_minutes
    rows = watched.conn.execute(
        """
        SELECT p.position_id, s.symbol, p.cycle_id, p.unrealized_pnl, p.updated_at,
               EXTRACT(EPOCH FROM (%(as_of)s - p.updated_at)) / 60
        FROM positions p
        JOIN securities s ON s.security_id = p.security_id
        WHERE p.status = ANY(%(live)s) AND p.updated_at < %(cutoff)s
        ORDER BY p.position_id
        """,
        {"as_of": watched.as_of, "live": list(vocabulary.LIVE_POSITION_STATUSES),
         "cutoff": watched.as_of - timedelta(minutes=threshold)},
    ).fetchall()
    return [
        Finding(
            "STALE_POSITION_DATA", "INFO",
            {"position_id": position_id, "symbol": symbol, "cycle_id": cycle_id},
            f"position {position_id} ({symbol}) P&L not updated for {float(minutes):.0f} min "
            f"(threshold {threshold:g})",
            details={"unrealized_pnl": pnl, "updated_at": updated_at,
                     "minutes_since_update": round(float(minutes), 1)},
        )
        for position_id, symbol, cycle_id, pnl, updated_at, minutes in rows
    ]

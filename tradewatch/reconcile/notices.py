"""What a reconciliation could not compare, said as INFO findings so the report shows it."""

from __future__ import annotations

from collections.abc import Sequence

from tradewatch.findings import Finding


def unconfirmed(alpaca_order_ids: Sequence[str]) -> Finding:
    """Orders left unasked past the look-up limit: reported, so nothing is silently unchecked."""
    return Finding(
        "RECONCILIATION_SKIPPED", "INFO", {"table": "orders"},
        f"{len(alpaca_order_ids)} order(s) the broker's listings and fills contradict were not "
        "looked up this run (--broker-lookup-limit); settle the ones reported to reach them",
        details={"unconfirmed": len(alpaca_order_ids), "alpaca_order_ids": list(alpaca_order_ids[:20])},
    )


def skipped(reason: str) -> Finding:
    """Said once per run when the broker cannot be compared at all, so the report shows it."""
    return Finding(
        "RECONCILIATION_SKIPPED", "INFO", {},
        f"broker reconciliation skipped: {reason}",
        details={"reason": reason},
    )

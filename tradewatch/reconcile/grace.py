"""Races: what changed moments before as_of is not judged, since the other side may still catch up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from tradewatch.broker import BrokerOrder
from tradewatch.reconcile.records import DbOrder

GRACE = timedelta(seconds=30)


def settling(as_of: datetime | None, grace: timedelta, moments: Iterable[datetime | None]) -> bool:
    """Whether any moment falls within grace before as_of, or after it up to the wall clock (and a
    grace more): a moment no clock has reached yet (2099) is no race, and silences nothing."""
    if as_of is None:
        return False
    cutoff = aware(as_of) - grace
    latest = max(aware(as_of), datetime.now(UTC)) + grace
    return any(moment is not None and cutoff <= aware(moment) <= latest for moment in moments)


def order_moments(row: DbOrder | None, *orders: BrokerOrder | None) -> list[datetime | None]:
    """When the database's order and the broker's were submitted or last changed."""
    moments = [row.submitted_at, row.updated_at] if row is not None else []
    for order in orders:
        if order is not None:
            moments += [order.submitted_at, order.updated_at, order.filled_at, order.canceled_at,
                        order.expired_at]
    return moments


def aware(moment: datetime) -> datetime:
    """The moment, a naive one read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

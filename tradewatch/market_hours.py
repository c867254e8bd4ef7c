"""Time-based findings alert only while the New York Stock Exchange is in session."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from tradewatch.findings import Finding

# Findings that measure time since something happened: after the close, a quiet book is normal.
TIME_BASED_TYPES = frozenset({"STUCK_ORDER", "CYCLE_STALE", "STALE_POSITION_DATA"})
CALENDAR = "XNYS"


@functools.cache
def _calendar() -> Any:
    """The NYSE calendar (sessions, holidays, half days), built once per process."""
    # Imported here: exchange-calendars pulls in pandas, which most runs never need.
    import exchange_calendars  # type: ignore[import-untyped]

    with _quiet_pandas():
        return exchange_calendars.get_calendar(CALENDAR)


@contextlib.contextmanager
def _quiet_pandas() -> Iterator[None]:
    """Hide exchange-calendars' use of pandas APIs that pandas deprecated: not ours to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def in_session(moment: datetime) -> bool:
    """Whether the NYSE is open at this moment (a naive moment is taken as UTC)."""
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        with _quiet_pandas():
            return bool(_calendar().is_open_on_minute(stamp))
    except ValueError:
        # Outside the calendar's years (about 20 back, 1 ahead): do not quiet what we cannot place.
        return True


def adjust(findings: Iterable[Finding], as_of: datetime) -> list[Finding]:
    """Lower time-based findings to INFO when as_of is outside an NYSE session."""
    found = list(findings)
    if not any(f.type in TIME_BASED_TYPES and f.severity != "INFO" for f in found):
        return found  # Nothing to adjust: do not load the calendar.
    if in_session(as_of):
        return found
    return [
        dataclasses.replace(
            f, severity="INFO",
            details={**f.details, "outside_market_hours": True, "severity_in_session": f.severity},
        )
        if f.type in TIME_BASED_TYPES and f.severity != "INFO" else f
        for f in found
    ]


@functools.cache
def _named_calendar(name: str) -> Any:
    """An exchange calendar by its exchange-calendars name (XNYS, XNAS, ...), built once per process."""
    import exchange_calendars

    with _quiet_pandas():
        try:
            return exchange_calendars.get_calendar(name)
        except exchange_calendars.errors.InvalidCalendarName:
            raise ValueError(f"no exchange calendar named {name!r}") from None


def previous_session_open(moment: datetime, calendar: str = CALENDAR) -> datetime:
    """When the session before the latest one to open by this moment opened (naive is UTC)."""
    # From there on, the broker's fills cover a whole session even right after an open.
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    exchange = _named_calendar(calendar)
    try:
        with _quiet_pandas():
            latest = exchange.minute_to_session(stamp, direction="previous")
            opened = exchange.session_open(exchange.previous_session(latest))
    except ValueError:
        raise ValueError(
            f"{stamp.isoformat()} is outside the {calendar} calendar's sessions "
            f"({exchange.first_session:%Y-%m-%d} to {exchange.last_session:%Y-%m-%d})"
        ) from None
    moment_opened: datetime = opened.to_pydatetime()
    return moment_opened.astimezone(UTC)

"""Whether the market is in session: time-based findings alert only then (holidays, half days, breaks)."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

DEFAULT_CALENDAR = "XNYS"


@functools.cache
def _calendar(name: str) -> Any:
    """An exchange's calendar (sessions, holidays, half days, lunch breaks), built once per process."""
    # Imported here: exchange-calendars pulls in pandas, which most runs never need.
    import exchange_calendars  # type: ignore[import-untyped]

    with _quiet_pandas():
        try:
            return exchange_calendars.get_calendar(name)
        except exchange_calendars.errors.InvalidCalendarName:
            raise UnknownCalendar(
                f"no exchange calendar named {name!r}; for example XNYS, XHKG, XLON, XTKS") from None


class UnknownCalendar(ValueError):
    """A calendar name exchange-calendars does not know."""


@contextlib.contextmanager
def _quiet_pandas() -> Iterator[None]:
    """Hide exchange-calendars' use of pandas APIs that pandas deprecated: not ours to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def zone_of(calendar: str) -> str:
    """The time zone an exchange trades in (UnknownCalendar for a name no calendar has)."""
    return str(_calendar(calendar).tz)


def in_session(moment: datetime, calendar: str = DEFAULT_CALENDAR) -> bool:
    """Whether the exchange trades at this moment, lunch breaks excluded (naive moments are UTC)."""
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    exchange = _calendar(calendar)  # an unknown name is an error, never a session
    try:
        with _quiet_pandas():
            return bool(exchange.is_open_on_minute(stamp))
    except ValueError:
        # Outside the calendar's years (about 20 back, 1 ahead): do not quiet what we cannot place.
        return True


def previous_session_open(moment: datetime, calendar: str = DEFAULT_CALENDAR) -> datetime:
    """When the session before the latest one to open by this moment opened (naive is UTC)."""
    # From there on, the broker's fills cover a whole session even right after an open.
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    exchange = _calendar(calendar)
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

"""The broker side of a run: one alpaca-py snapshot of positions and open or recent orders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from tradewatch import vocabulary
from tradewatch.errors import CheckCannotRun
from tradewatch.settings import Settings

PAGE_SIZE = 500  # the most orders the broker returns per request
# A replay sends no request anywhere, but the client refuses to exist without keys.
PLACEHOLDER_KEY = "replay-key"
PLACEHOLDER_SECRET = "replay-secret"  # noqa: S105 - not a secret: it stands in for one


class BrokerUnavailable(CheckCannotRun):
    """The broker could not be read: unreachable, too slow, refusing, or replying garbage."""


@dataclass(frozen=True)
class BrokerPosition:
    """What the broker holds in one symbol; qty is signed, negative for a short."""

    symbol: str
    qty: Decimal


@dataclass(frozen=True)
class BrokerOrder:
    """One broker order (a bracket's legs are orders of their own), as far as it could be read."""

    id: str
    symbol: str
    status: str
    side: str | None = None
    order_type: str | None = None
    qty: Decimal | None = None
    filled_qty: Decimal | None = None
    filled_avg_price: Decimal | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    client_order_id: str | None = None
    parent_id: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether the broker may still act on it (an unknown status counts as open)."""
        return vocabulary.normalize_status(self.status) not in vocabulary.TERMINAL_STATUSES


@dataclass(frozen=True)
class BrokerSnapshot:
    """The run's one look at the broker: positions, open or recent orders, targeted look-ups."""

    positions: tuple[BrokerPosition, ...]
    orders: Mapping[str, BrokerOrder]
    # Orders the database holds that the snapshot lacked, asked for one by one: None is a 404.
    lookups: Mapping[str, BrokerOrder | None] = field(default_factory=dict)
    # Such orders left unasked this run, past the look-up limit.
    unconfirmed: tuple[str, ...] = ()

    def order(self, alpaca_order_id: str) -> BrokerOrder | None:
        """The broker's order with this id, from the snapshot or a look-up, if the broker has it."""
        key = alpaca_order_id.strip().lower()
        return self.orders.get(key) or self.lookups.get(alpaca_order_id)

    def confirmed_missing(self, alpaca_order_id: str) -> bool:
        """Whether the broker answered 'not found' when asked for this id."""
        return alpaca_order_id in self.lookups and self.lookups[alpaca_order_id] is None


class BrokerClient(TradingClient):
    """alpaca-py's trading client in raw mode, with a timeout on every request (it sets none)."""

    def __init__(self, settings: Settings, *, placeholder_keys: bool = False) -> None:
        api_key, secret_key = settings.alpaca_api_key, settings.alpaca_secret_key
        if placeholder_keys or not (api_key and secret_key):
            api_key, secret_key = PLACEHOLDER_KEY, PLACEHOLDER_SECRET
        super().__init__(
            api_key, secret_key, paper=settings.alpaca_paper, raw_data=True,
            url_override=settings.alpaca_base_url,
        )
        # The SDK retries a 429 (and a 504) itself; keep that bounded and the waits ours.
        self._retry = settings.broker_retries
        self._retry_wait = settings.broker_retry_wait_s  # type: ignore[assignment]
        self.timeout_s = settings.broker_timeout_s
        self.where = _without_userinfo(settings.alpaca_base_url) if settings.alpaca_base_url else (
            "the paper account" if settings.alpaca_paper else "the live account"
        )

    def _one_request(self, method: str, url: str, opts: dict[str, Any], retry: int) -> dict[str, Any]:
        return super()._one_request(method, url, {**opts, "timeout": self.timeout_s}, retry)

    @contextmanager
    def failures(self) -> Iterator[None]:
        """Turn every way a request can fail into BrokerUnavailable, saying what and where."""
        where = self.where
        try:
            yield
        except APIError as exc:
            status = exc.status_code
            if status == 429:
                raise BrokerUnavailable(
                    f"broker at {where} still rate-limits (429) after {self._retry} retries"
                ) from None
            if status in (401, 403):
                raise BrokerUnavailable(
                    f"broker at {where} refused the credentials ({status}): check "
                    "ALPACA_API_KEY, ALPACA_SECRET_KEY and ALPACA_PAPER"
                ) from None
            body = " ".join(str(exc).split())[:200]
            raise BrokerUnavailable(f"broker at {where} replied {status}: {body}") from None
        except requests.Timeout:
            raise BrokerUnavailable(
                f"broker at {where} did not answer within {self.timeout_s:g} s"
            ) from None
        except requests.exceptions.JSONDecodeError:
            raise BrokerUnavailable(f"broker at {where} replied with a body that is not JSON") from None
        except requests.RequestException as exc:
            raise BrokerUnavailable(
                f"cannot reach the broker at {where}: {type(exc).__name__}"
            ) from None


def _without_userinfo(url: str) -> str:
    """A URL fit for a message: a proxy's user and password stay out of it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def take_snapshot(
    client: BrokerClient, as_of: datetime, lookback: timedelta, db_order_ids: Iterable[str],
    *, lookup_limit: int | None = None,
) -> BrokerSnapshot:
    """Positions, orders open or submitted within lookback before as_of, and look-ups of the rest."""
    # db_order_ids are the broker ids of the database's non-terminal orders: each one the
    # snapshot lacks is asked for once, so 'not found' is the broker's word, not a guess.
    with client.failures():
        positions = tuple(
            position_from_json(raw) for raw in _as_list(client.get_all_positions(), "positions")
        )
        orders: dict[str, BrokerOrder] = {}
        since = as_of - lookback
        _read_orders(client, QueryOrderStatus.ALL, orders, nested=True, after=since, until=as_of)
        # Older orders still open (good-till-cancelled legs); the recent ones are in already.
        # Not nested: the broker leaves a bracket whose entry filled out of a nested open
        # listing, open legs and all. Until a microsecond past since, to lose no boundary order.
        _read_orders(client, QueryOrderStatus.OPEN, orders, nested=False, after=None,
                     until=since + timedelta(microseconds=1))
        missing = [alpaca_id for alpaca_id in sorted(set(db_order_ids))
                   if alpaca_id.strip().lower() not in orders]
        # A backlog of stale database orders must not turn one run into hundreds of requests.
        asked = missing if lookup_limit is None else missing[:lookup_limit]
        lookups = {alpaca_id: _look_up(client, alpaca_id) for alpaca_id in asked}
    return BrokerSnapshot(positions, orders, lookups, tuple(missing[len(asked):]))


def _read_orders(
    client: BrokerClient, status: QueryOrderStatus, into: dict[str, BrokerOrder],
    *, nested: bool, after: datetime | None, until: datetime,
) -> None:
    """Page newest first by moving until to the last order's submission, until a short page."""
    until = until.astimezone(UTC)
    while True:
        request = GetOrdersRequest(
            status=status, limit=PAGE_SIZE, nested=nested, direction=Sort.DESC,
            after=after.astimezone(UTC) if after else None, until=until,
        )
        page = _as_list(client.get_orders(request), "orders")
        before = len(into)
        for raw in page:
            _add_order(raw, into, parent_id=None)
        if len(page) < PAGE_SIZE:
            return
        last = _timestamp(page[-1].get("submitted_at"))
        if last is None or len(into) == before:
            raise BrokerUnavailable(
                f"cannot page through the broker's orders before {until.isoformat()}: "
                f"{PAGE_SIZE} orders share one submission time, or it lacks one"
            )
        # One microsecond later, so orders sharing the boundary time come again (and are
        # deduplicated) whether the broker reads until as inclusive or not.
        until = last + timedelta(microseconds=1)


def _look_up(client: BrokerClient, alpaca_id: str) -> BrokerOrder | None:
    """The broker's order with this id, or None when the broker does not know it."""
    try:
        UUID(alpaca_id.strip())
    except ValueError:
        return None  # Not an id the broker could ever have issued.
    try:
        raw = client.get_order_by_id(alpaca_id.strip())
    except APIError as exc:
        if exc.status_code == 404:
            return None
        raise
    if not isinstance(raw, Mapping):
        raise BrokerUnavailable(f"broker replied to an order look-up with {type(raw).__name__}")
    return order_from_json(raw)


def _as_list(raw: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise BrokerUnavailable(f"broker replied with something other than a list of {what}")
    return raw


def _add_order(raw: Mapping[str, Any], into: dict[str, BrokerOrder], parent_id: str | None) -> None:
    order = order_from_json(raw, parent_id)
    into[order.id] = order
    for leg in raw.get("legs") or ():
        if not isinstance(leg, Mapping):
            raise BrokerUnavailable(f"broker order {order.id} has a leg that is not an object")
        _add_order(leg, into, order.id)


def order_from_json(raw: Mapping[str, Any], parent_id: str | None = None) -> BrokerOrder:
    """Read an order from the broker's JSON; unknown statuses and extra fields are kept or ignored."""
    order_id, status = raw.get("id"), raw.get("status")
    if not order_id or not status:
        raise BrokerUnavailable(f"broker replied with an order lacking its id or status: {order_id!r}")
    return BrokerOrder(
        id=str(order_id).lower(),
        symbol=str(raw.get("symbol") or ""),
        status=str(status).strip().lower(),
        side=_text(raw.get("side")),
        order_type=_text(raw.get("type") or raw.get("order_type")),
        qty=_decimal(raw.get("qty")),
        filled_qty=_decimal(raw.get("filled_qty")),
        filled_avg_price=_decimal(raw.get("filled_avg_price")),
        submitted_at=_timestamp(raw.get("submitted_at")),
        filled_at=_timestamp(raw.get("filled_at")),
        canceled_at=_timestamp(raw.get("canceled_at")),
        expired_at=_timestamp(raw.get("expired_at")),
        client_order_id=_text(raw.get("client_order_id")),
        parent_id=parent_id,
    )


def position_from_json(raw: Mapping[str, Any]) -> BrokerPosition:
    """Read a position, keeping the sign: a short is side 'short' and/or a negative qty."""
    symbol, qty = raw.get("symbol"), _decimal(raw.get("qty"))
    if not symbol or qty is None:
        raise BrokerUnavailable(f"broker replied with a position lacking its symbol or qty: {symbol!r}")
    short = qty < 0 or str(raw.get("side") or "").lower() == "short"
    return BrokerPosition(str(symbol), -abs(qty) if short else qty)


def _text(value: Any) -> str | None:
    return str(value).lower() if value not in (None, "") else None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BrokerUnavailable(f"broker replied with {value!r} where a number belongs") from None
    if not number.is_finite():
        raise BrokerUnavailable(f"broker replied with {value!r} where a number belongs")
    return number


def _timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        stamp = datetime.fromisoformat(str(value))  # nanoseconds are cut to microseconds
    except ValueError:
        raise BrokerUnavailable(f"broker replied with {value!r} where a timestamp belongs") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

"""The broker side of a run: one alpaca-py snapshot of the account, positions, orders and fills."""

from __future__ import annotations

import json
import re
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

from tradewatch import deadline, vocabulary
from tradewatch.errors import CheckCannotRun
from tradewatch.settings import Settings

PAGE_SIZE = 500  # the most orders the broker returns per request
ORDER_PAGE_LIMIT = 100  # more order pages than this in one listing: a broker that never stops paging
FILL_PAGE_SIZE = 100  # the most activities the broker returns per request
FILL_PAGE_LIMIT = 50  # more fill pages than this in one run: a broker that never stops paging
REPLACEMENT_LIMIT = 10  # the longest chain of replacements followed from one order
FILLS_PATH = "/account/activities/FILL"
FILL_KINDS = ("fill", "partial_fill")
# A replay sends no request anywhere, but the client refuses to exist without keys.
PLACEHOLDER_KEY = "replay-key"
PLACEHOLDER_SECRET = "replay-secret"  # noqa: S105 - not a secret: it stands in for one
# Names of reply fields and headers that are secret or identify the account: no cassette and
# no message keeps their values.
SECRET_NAME = re.compile(
    r"secret|token|password|passwd|api[-_]?key|authorization|cookie|account[-_]?(?:number|id)",
    re.IGNORECASE,
)
# A JSON object with one of these fields is the account: its plain `id` identifies it too.
ACCOUNT_FIELDS = ("account_number", "buying_power")
REDACTED = "<redacted>"


class BrokerUnavailable(CheckCannotRun):
    """The broker could not be read: unreachable, too slow, refusing, or replying garbage."""


@dataclass(frozen=True)
class BrokerPosition:
    """What the broker holds in one symbol; qty is signed, negative for a short."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal | None = None
    market_value: Decimal | None = None


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
    updated_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether the broker may still act on it (an unknown status counts as open)."""
        return vocabulary.normalize_status(self.status) not in vocabulary.TERMINAL_STATUSES


@dataclass(frozen=True)
class BrokerFill:
    """One execution of an order (a FILL activity): a partial fill is one of several."""

    id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    transaction_time: datetime
    kind: str  # fill (the order's last) or partial_fill
    cum_qty: Decimal | None = None  # the order's filled quantity after this fill, when the broker says


@dataclass(frozen=True)
class BrokerAccount:
    """The account's figures and flags; its number and ids are never kept."""

    equity: Decimal
    last_equity: Decimal
    cash: Decimal
    buying_power: Decimal
    trading_blocked: bool
    account_blocked: bool
    trade_suspended_by_user: bool
    pattern_day_trader: bool
    daytrade_count: int


def fold_id(alpaca_id: str) -> str:
    """A broker order id as both sides are matched: lower-cased, spaces trimmed (what SQL's
    lower(btrim(...)) gives, which migrations/0006 indexes; no other whitespace)."""
    return alpaca_id.strip(" ").lower()


@dataclass(frozen=True)
class BrokerSnapshot:
    """The run's one look at the broker: positions, open orders, targeted look-ups, and when asked
    for, the account and the fills of a window."""

    positions: tuple[BrokerPosition, ...]
    orders: Mapping[str, BrokerOrder]
    # Orders the open listing and the fills contradicted, asked for one by one: None is a 404.
    lookups: Mapping[str, BrokerOrder | None] = field(default_factory=dict)
    # Such orders left unasked this run, past the look-up limit.
    unconfirmed: tuple[str, ...] = ()
    account: BrokerAccount | None = None
    fills: tuple[BrokerFill, ...] = ()
    # The fills are every fill from this moment until as_of; None when fills were not read.
    fills_since: datetime | None = None

    def order(self, alpaca_order_id: str) -> BrokerOrder | None:
        """The broker's order with this id, from the snapshot or a look-up, if the broker has it."""
        key = fold_id(alpaca_order_id)
        return self.orders.get(key) or self.lookups.get(alpaca_order_id) or self.lookups.get(key)

    def confirmed_missing(self, alpaca_order_id: str) -> bool:
        """Whether the broker answered 'not found' when asked for this id."""
        return alpaca_order_id in self.lookups and self.lookups[alpaca_order_id] is None

    def lineage(self, alpaca_order_id: str) -> tuple[BrokerOrder, ...]:
        """The order and the replacements the snapshot holds, each replacing the one before."""
        chain: list[BrokerOrder] = []
        found = self.order(alpaca_order_id)
        while found is not None and found not in chain and len(chain) <= REPLACEMENT_LIMIT:
            chain.append(found)
            found = self.order(found.replaced_by) if found.replaced_by else None
        return tuple(chain)

    def current(self, alpaca_order_id: str) -> BrokerOrder | None:
        """The order's last replacement (itself when never replaced); None when that is unknown."""
        chain = self.lineage(alpaca_order_id)
        if not chain or (chain[-1].replaced_by and self.order(chain[-1].replaced_by) is None):
            return None
        return chain[-1]

    def ancestors(self, alpaca_order_id: str) -> tuple[str, ...]:
        """The ids this order replaced, nearest first, as far as the snapshot holds them."""
        chain: list[str] = []
        found = self.order(alpaca_order_id)
        while found is not None and found.replaces and found.replaces not in chain:
            chain.append(found.replaces)
            if len(chain) > REPLACEMENT_LIMIT:
                break
            found = self.order(found.replaces)
        return tuple(chain)


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
        self._secrets = [api_key, secret_key]
        # The SDK retries a 429 (and a 504) itself; keep that bounded and the waits ours.
        self._retry = settings.broker_retries
        self._retry_wait = settings.broker_retry_wait_s  # type: ignore[assignment]
        self.timeout_s = settings.broker_timeout_s
        self.where = _without_userinfo(settings.alpaca_base_url) if settings.alpaca_base_url else (
            "the paper account" if settings.alpaca_paper else "the live account"
        )

    def _one_request(self, method: str, url: str, opts: dict[str, Any], retry: int) -> dict[str, Any]:
        # requests' timeout bounds each socket read: a server trickling a byte a second never meets
        # it. The bound around the whole request (connect, headers, body) is kept by a signal.
        late = f"broker at {self.where} did not answer within {self.timeout_s:g} s"
        with deadline.bounded(self.timeout_s, late) as bound:
            try:
                reply = super()._one_request(method, url, {**opts, "timeout": self.timeout_s}, retry)
                # Whatever the broker echoes (a key in an id, a symbol, a quantity) goes no further.
                redacted: dict[str, Any] = redact_values(reply, self._secrets)
                return redacted
            except deadline.Expired as exc:
                if exc.bound is not bound:
                    raise  # the run's deadline, not this request's
                raise BrokerUnavailable(late) from None

    def shown(self, body: str) -> str:
        """A reply body fit for a message: the keys, secret-looking fields and account ids out."""
        text = redact_text(body, self._secrets)
        try:
            # Redacted again once decoded: a secret holding a quote or a backslash is escaped in
            # the body, and only its decoded form matches.
            text = json.dumps(scrub_json(redact_values(json.loads(text), self._secrets)))
        except ValueError:
            if SECRET_NAME.search(text):  # not JSON, so its secret values cannot be told apart
                return "(body withheld: it names a secret)"
        return " ".join(redact_text(text, self._secrets).split())[:200]

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
            raise BrokerUnavailable(f"broker at {where} replied {status}: {self.shown(str(exc))}") from None
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


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """The text with every occurrence of each secret replaced, as it is and as JSON escapes it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED).replace(json.dumps(secret)[1:-1], REDACTED)
    return text


def redact_values(value: Any, secrets: Iterable[str]) -> Any:
    """Decoded JSON with every secret replaced in each string, keys included, at any depth."""
    secrets = list(secrets)
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_values(key, secrets): redact_values(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_values(item, secrets) for item in value]
    return value


def scrub_json(value: Any) -> Any:
    """Redact every value whose key looks secret or identifies the account, at any depth."""
    if isinstance(value, dict):
        account = any(name in value for name in ACCOUNT_FIELDS)
        return {key: REDACTED if SECRET_NAME.search(str(key)) or (account and key == "id")
                else scrub_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_json(item) for item in value]
    return value


def _without_userinfo(url: str) -> str:
    """A URL fit for a message: a proxy's user and password stay out of it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def take_snapshot(
    client: BrokerClient, as_of: datetime, db_statuses: Iterable[tuple[str, str]], *,
    lookup_limit: int | None = None, account: bool = False, fills_since: datetime | None = None,
    fill_page_limit: int = FILL_PAGE_LIMIT, order_page_limit: int = ORDER_PAGE_LIMIT,
) -> BrokerSnapshot:
    """Positions, every open order, with account the account, with fills_since every fill from then
    until as_of, and look-ups of the database's orders these contradict.

    db_statuses: (broker id, the database's status or its meaning) of each of its open orders and
    of those that ended inside the fills window; an unknown status counts as open.
    """
    # Requests: account and positions, ceil(open / 500) pages of open orders, ceil(fills / 100)
    # pages of fills; one look-up per order only where the database and these disagree, so the
    # broker's 'not found' or 'filled' is its own word, not a guess.
    with client.failures():
        read_account = account_from_json(client.get_account()) if account else None
        positions = tuple(
            position_from_json(raw) for raw in _as_list(client.get_all_positions(), "positions")
        )
        orders: dict[str, BrokerOrder] = {}
        # Not nested: the broker leaves a bracket whose entry filled out of a nested open listing,
        # open legs and all.
        _read_orders(client, QueryOrderStatus.OPEN, orders, nested=False, after=None, until=as_of,
                     page_limit=order_page_limit)
        fills = () if fills_since is None else _read_fills(client, fills_since, as_of, fill_page_limit)
        asked = contradicted(db_statuses, orders, fills)
        lookups, unconfirmed = _look_up_all(client, orders, asked, lookup_limit)
    return BrokerSnapshot(positions, orders, lookups, unconfirmed, read_account, fills, fills_since)


def contradicted(
    db_statuses: Iterable[tuple[str, str]], open_orders: Mapping[str, BrokerOrder],
    fills: Iterable[BrokerFill],
) -> list[str]:
    """The broker ids to ask for one by one: database orders the open listing and the fills deny
    (open but not listed; filled without the broker's last fill; ended unfilled with it), and
    orders with fills that the database's window lacks."""
    kinds: dict[str, set[str]] = {}
    for fill in fills:
        kinds.setdefault(fill.order_id, set()).add(fill.kind)
    asked: set[str] = set()
    held: set[str] = set()
    # Pairs, not a mapping: two database rows carrying one broker id are each compared.
    for alpaca_id, db_status in db_statuses:
        key = fold_id(alpaca_id)
        held.add(key)
        if key in open_orders:
            continue  # the listing holds the broker's status
        status = vocabulary.normalize_status(db_status)
        finished = "fill" in kinds.get(key, ())  # the broker's last fill of the order came
        if status not in vocabulary.TERMINAL_STATUSES or finished != (status == "filled"):
            asked.add(alpaca_id)
    # A fill of an order the window lacks: a replacement, an older order, or one the database lacks.
    asked.update(order_id for order_id in kinds if order_id not in held and order_id not in open_orders)
    return sorted(asked)


def _look_up_all(
    client: BrokerClient, orders: Mapping[str, BrokerOrder], db_order_ids: list[str], limit: int | None,
) -> tuple[dict[str, BrokerOrder | None], tuple[str, ...]]:
    """Ask for these orders one by one, and for the replacements they lead to."""
    lookups: dict[str, BrokerOrder | None] = {}
    unasked: list[str] = []

    def known(alpaca_id: str) -> BrokerOrder | None:
        key = fold_id(alpaca_id)
        if key in orders or alpaca_id in lookups:
            return orders.get(key) or lookups[alpaca_id]
        # A backlog of stale database orders must not turn one run into hundreds of requests.
        if limit is not None and len(lookups) >= limit:
            if alpaca_id not in unasked:
                unasked.append(alpaca_id)
            return None
        lookups[alpaca_id] = _look_up(client, alpaca_id)
        return lookups[alpaca_id]

    for alpaca_id in db_order_ids:
        found, steps = known(alpaca_id), 0
        # A replaced order is followed to its replacement, so the order is judged by where it went.
        while found is not None and found.replaced_by and steps < REPLACEMENT_LIMIT:
            found, steps = known(found.replaced_by), steps + 1
    return lookups, tuple(unasked)


def _read_orders(
    client: BrokerClient, status: QueryOrderStatus, into: dict[str, BrokerOrder],
    *, nested: bool, after: datetime | None, until: datetime, page_limit: int = ORDER_PAGE_LIMIT,
) -> None:
    """Page newest first by moving until to the last order's submission, until a short page (or
    page_limit pages: a broker sending new orders for ever is an error, not an endless run)."""
    until = until.astimezone(UTC)
    for _ in range(page_limit):
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
        # The next page asks for orders before the last one's time: a page whose last order is not
        # earlier than until (a broker ignoring until), or one adding nothing, would be asked again.
        if last is None or len(into) == before or last + timedelta(microseconds=1) >= until:
            raise BrokerUnavailable(
                f"cannot page through the broker's orders before {until.isoformat()}: "
                f"{PAGE_SIZE} orders share one submission time, or it lacks one, or the broker "
                "ignores until"
            )
        # One microsecond later, so orders sharing the boundary time come again (and are
        # deduplicated) whether the broker reads until as inclusive or not.
        until = last + timedelta(microseconds=1)
    raise BrokerUnavailable(
        f"broker kept paging orders past {page_limit} pages of {PAGE_SIZE}: stopped reading"
    )


def _read_fills(
    client: BrokerClient, since: datetime, until: datetime, page_limit: int
) -> tuple[BrokerFill, ...]:
    """Every fill from since until until, newest first, paged by the last activity's id."""
    fills: dict[str, BrokerFill] = {}
    token: str | None = None
    # The broker's after is exclusive: a microsecond earlier keeps a fill at since itself.
    after = (since - timedelta(microseconds=1)).astimezone(UTC).isoformat()
    for _ in range(page_limit):
        params: dict[str, Any] = {
            "direction": "desc", "page_size": FILL_PAGE_SIZE, "after": after,
            "until": until.astimezone(UTC).isoformat(),
        }
        if token is not None:
            params["page_token"] = token
        page = [fill_from_json(raw) for raw in _as_list(client.get(FILLS_PATH, params), "fill activities")]
        # A broker ignoring page_token would send the same page for ever.
        if token is not None and page and (page[-1].id == token or all(f.id in fills for f in page)):
            raise BrokerUnavailable(
                f"broker repeated its page of fills after activity {token}: paging cannot go on"
            )
        fills.update((fill.id, fill) for fill in page)
        if len(page) < FILL_PAGE_SIZE:
            break
        token = page[-1].id
    else:
        raise BrokerUnavailable(
            f"broker kept paging fills past {page_limit} pages of {FILL_PAGE_SIZE}: stopped reading"
        )
    return tuple(sorted(fills.values(), key=lambda fill: (fill.transaction_time, fill.id)))


def _look_up(client: BrokerClient, alpaca_id: str) -> BrokerOrder | None:
    """The broker's order with this id, or None when the broker does not know it."""
    try:
        UUID(alpaca_id.strip(" "))
    except ValueError:
        return None  # Not an id the broker could ever have issued.
    try:
        raw = client.get_order_by_id(alpaca_id.strip(" "))
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
        updated_at=_timestamp(raw.get("updated_at")),
        replaced_by=_text(raw.get("replaced_by")),
        replaces=_text(raw.get("replaces")),
    )


def position_from_json(raw: Mapping[str, Any]) -> BrokerPosition:
    """Read a position, keeping the sign: a short is side 'short' and/or a negative qty."""
    symbol, qty = raw.get("symbol"), _decimal(raw.get("qty"))
    if not symbol or qty is None:
        raise BrokerUnavailable(f"broker replied with a position lacking its symbol or qty: {symbol!r}")
    short = qty < 0 or str(raw.get("side") or "").lower() == "short"
    return BrokerPosition(
        str(symbol), -abs(qty) if short else qty,
        avg_entry_price=_decimal(raw.get("avg_entry_price")),
        market_value=_decimal(raw.get("market_value")),
    )


def fill_from_json(raw: Mapping[str, Any]) -> BrokerFill:
    """Read a FILL activity; one lacking what a tie-out needs is an error, not a skipped fill."""
    fill_id, order_id, kind = raw.get("id"), raw.get("order_id"), _text(raw.get("type"))
    qty, price = _decimal(raw.get("qty")), _decimal(raw.get("price"))
    when = _timestamp(raw.get("transaction_time"))
    if not fill_id or not order_id or qty is None or price is None or when is None or not raw.get("symbol"):
        raise BrokerUnavailable(f"broker replied with a fill lacking what identifies it: {fill_id!r}")
    if kind not in FILL_KINDS or qty <= 0:
        raise BrokerUnavailable(f"broker replied with a fill of type {kind!r} and qty {qty}: {fill_id!r}")
    return BrokerFill(str(fill_id), fold_id(str(order_id)), str(raw["symbol"]),
                      _text(raw.get("side")) or "", qty, price, when, kind, _decimal(raw.get("cum_qty")))


def account_from_json(raw: Any) -> BrokerAccount:
    """Read the account's figures and flags, refusing a reply that lacks any of them."""
    if not isinstance(raw, Mapping):
        raise BrokerUnavailable("broker replied to the account request with something other than an object")
    figures: dict[str, Any] = {
        name: _account_figure(raw.get(name)) for name in ("equity", "last_equity", "cash", "buying_power")
    }
    flags: dict[str, Any] = {name: raw.get(name) for name in (
        "trading_blocked", "account_blocked", "trade_suspended_by_user", "pattern_day_trader")}
    count: Any = raw.get("daytrade_count")
    lacking = [name for name, value in figures.items() if value is None]
    lacking += [name for name, value in flags.items() if not isinstance(value, bool)]
    if not isinstance(count, int) or isinstance(count, bool):
        lacking.append("daytrade_count")
    if lacking:
        # Only the field names: the reply is the account's, and its values may identify it.
        raise BrokerUnavailable(f"broker replied with an account lacking {', '.join(lacking)}")
    return BrokerAccount(**figures, **flags, daytrade_count=count)


def _account_figure(value: Any) -> Decimal | None:
    """A figure of the account, or None (said as lacking) when it is not a finite number."""
    try:
        return _decimal(value)
    except BrokerUnavailable:
        return None


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

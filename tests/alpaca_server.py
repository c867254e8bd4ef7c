"""An Alpaca-shaped trading API on 127.0.0.1 for the self-tests: the account, positions, orders,
fills, faults and a request log."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tradewatch import vocabulary

# stuck: the fills listing ignores page_token, the orders listing until: every page is the first.
# trickle: the reply (status line, headers, body) is sent one byte every delay_s.
# endless: the orders and fills listings send a full page of new ids, each page older, for ever.
FaultKind = Literal["429", "500", "garbled", "slow", "stuck", "trickle", "endless"]
FOREVER = ("stuck", "endless")
MAX_LIMIT = 500
MAX_PAGE_SIZE = 100  # the most activities per page
ACCOUNT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "account.tradewatch.test"))
ACCOUNT_NUMBER = "PA3TWTEST0042"


def stamp(moment: datetime) -> str:
    """A timestamp as the broker writes it: UTC, microseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_york(text: str) -> datetime:
    """A December 2025 wall-clock time on the desk, like 2025-12-31T09:40 (New York, EST)."""
    return datetime.fromisoformat(f"{text}-05:00")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def position(symbol: str, qty: str, *, side: str | None = None, price: str = "100") -> dict[str, Any]:
    """A position as GET /v2/positions returns it; a short has a negative qty and side short."""
    short = qty.startswith("-")
    value = str(Decimal(qty) * Decimal(price))
    return {
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)), "symbol": symbol,
        "exchange": "NASDAQ", "asset_class": "us_equity", "asset_marginable": True,
        "qty": qty, "qty_available": qty, "avg_entry_price": price,
        "side": side or ("short" if short else "long"),
        "market_value": value, "cost_basis": value, "unrealized_pl": "0", "unrealized_plpc": "0",
        "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0", "current_price": price,
        "lastday_price": price, "change_today": "0",
    }


def order(
    order_id: str, symbol: str, side: str, status: str, qty: str, submitted_at: datetime, *,
    order_type: str = "market", order_class: str = "simple", filled_qty: str | None = None,
    filled_avg_price: str | None = None, filled_at: datetime | None = None,
    canceled_at: datetime | None = None, limit_price: str | None = None,
    stop_price: str | None = None, legs: Iterable[dict[str, Any]] = (),
    replaced_by: str | None = None, replaces: str | None = None, replaced_at: datetime | None = None,
) -> dict[str, Any]:
    """An order as GET /v2/orders returns it (legs given are nested under it)."""
    when = stamp(submitted_at)
    if filled_qty is None:
        filled_qty = qty if status == "filled" else "0"
    return {
        "id": order_id, "client_order_id": f"client-{order_id[-8:]}",
        "created_at": when, "updated_at": stamp(filled_at or canceled_at or replaced_at or submitted_at),
        "submitted_at": when, "filled_at": stamp(filled_at) if filled_at else None,
        "expired_at": None, "canceled_at": stamp(canceled_at) if canceled_at else None,
        "failed_at": None, "replaced_at": stamp(replaced_at) if replaced_at else None,
        "replaced_by": replaced_by, "replaces": replaces,
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)), "symbol": symbol,
        "asset_class": "us_equity", "notional": None, "qty": qty, "filled_qty": filled_qty,
        "filled_avg_price": filled_avg_price, "order_class": order_class,
        "order_type": order_type, "type": order_type, "side": side, "position_intent": None,
        "time_in_force": "gtc" if order_class == "bracket" else "day",
        "limit_price": limit_price, "stop_price": stop_price, "status": status,
        "extended_hours": False, "legs": list(legs) or None, "trail_percent": None,
        "trail_price": None, "hwm": None,
    }


def account(**changes: Any) -> dict[str, Any]:
    """The account as GET /v2/account returns it, with its number and id (which no output keeps)."""
    body: dict[str, Any] = {
        "id": ACCOUNT_ID, "account_number": ACCOUNT_NUMBER, "status": "ACTIVE",
        "crypto_status": "ACTIVE", "currency": "USD", "buying_power": "180000",
        "regt_buying_power": "180000", "daytrading_buying_power": "0", "effective_buying_power": "180000",
        "non_marginable_buying_power": "90000", "options_buying_power": "90000", "bod_dtbp": "0",
        "cash": "90000", "accrued_fees": "0", "pending_transfer_in": "0", "portfolio_value": "100000",
        "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
        "account_blocked": False, "created_at": "2024-01-02T15:00:00.000000Z",
        "trade_suspended_by_user": False, "multiplier": "2", "shorting_enabled": True,
        "equity": "100000", "last_equity": "100000", "long_market_value": "25000",
        "short_market_value": "-13500", "position_market_value": "38500", "initial_margin": "19250",
        "maintenance_margin": "11550", "last_maintenance_margin": "11550", "sma": "0",
        "daytrade_count": 0, "balance_asof": "2025-12-30", "crypto_tier": 1,
        "intraday_adjustments": "0", "pending_reg_taf_fees": "0",
    }
    body.update(changes)
    return body


def fill(
    order_id: str, symbol: str, side: str, qty: str, price: str, when: datetime, *,
    kind: str = "fill", cum_qty: str | None = None, leaves_qty: str = "0", sequence: int = 0,
) -> dict[str, Any]:
    """One FILL activity as GET /v2/account/activities/FILL returns it (kind fill or partial_fill)."""
    moment = when.astimezone(UTC)
    return {
        "id": f"{moment:%Y%m%d%H%M%S}{moment.microsecond // 1000:03d}::"
              f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{order_id}/{sequence}')}",
        "account_id": ACCOUNT_ID, "activity_type": "FILL", "transaction_time": stamp(when),
        "type": kind, "price": price, "qty": qty, "side": side, "symbol": symbol,
        "leaves_qty": leaves_qty, "order_id": order_id, "cum_qty": cum_qty or qty,
        "order_status": "filled" if kind == "fill" else "partially_filled",
    }


@dataclass
class Fault:
    """A misbehaviour for the next matching request(s)."""

    kind: FaultKind
    path: str
    times: int
    delay_s: float


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass
class AlpacaServer:
    """Serves a book of positions and orders the way the trading API does, on a local port."""

    positions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] = field(default_factory=account)
    api_key: str = "test-key"
    secret_key: str = "test-secret"  # made up
    port: int = 0
    date: str | None = None  # a fixed Date header, so a recorded cassette does not churn
    until_inclusive: bool = True  # the broker's docs leave it open; the client must cope with both
    echo_credentials: bool = False  # error bodies repeat the key and secret they were sent
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The base URL to give alpaca-py's url_override (ALPACA_BASE_URL)."""
        assert self._httpd is not None, "the server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AlpacaServer:
        """Listen on 127.0.0.1 in a background thread."""
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _QuietServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening; the port is closed afterwards."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> AlpacaServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def fail(self, kind: FaultKind, *, times: int = 1, path: str = "/v2/", delay_s: float = 2.0) -> None:
        """Misbehave on the next `times` requests whose path starts with `path` (stuck, endless: for ever)."""
        self.faults.append(Fault(kind, path, times, delay_s))

    def count(self, path: str = "/v2/") -> int:
        """How many requests arrived for paths starting with `path`."""
        return sum(1 for seen in self.seen if seen.path.startswith(path))

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and path.startswith(fault.path):
                    if fault.kind not in FOREVER:
                        fault.times -= 1
                    return fault
        return None

    def _all_orders(self) -> list[dict[str, Any]]:
        flat = []
        for parent in self.orders:
            flat.append(parent)
            flat.extend(parent.get("legs") or ())
        return flat

    def list_orders(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders: status, after (exclusive), until, limit, direction and nested."""
        status = query.get("status", "open")
        limit = min(int(query.get("limit", "50")), MAX_LIMIT)
        nested = query.get("nested", "false").lower() == "true"
        after = _parse(query["after"]) if "after" in query else None
        until = _parse(query["until"]) if "until" in query else None

        def wanted(entry: dict[str, Any]) -> bool:
            is_open = vocabulary.normalize_status(entry["status"]) not in vocabulary.TERMINAL_STATUSES
            return status == "all" or is_open == (status == "open")

        if nested:
            # As the broker does: only the parent's status counts, so a bracket whose entry
            # filled drops out of a nested open listing, open legs and all.
            entries = [o for o in self.orders if wanted(o)]
        else:
            entries = [{**o, "legs": None} for o in self._all_orders() if wanted(o)]
        entries = [
            o for o in entries
            if (after is None or _parse(o["submitted_at"]) > after)
            and (until is None or _parse(o["submitted_at"]) < until
                 or (self.until_inclusive and _parse(o["submitted_at"]) == until))
        ]
        entries.sort(key=lambda o: (_parse(o["submitted_at"]), o["id"]),
                     reverse=query.get("direction", "desc") == "desc")
        return entries[:limit]

    def list_fills(self, query: Mapping[str, str], *, stuck: bool = False) -> list[dict[str, Any]]:
        """GET /v2/account/activities/FILL: after (exclusive), until, direction, page_size, page_token."""
        size = min(int(query.get("page_size", str(MAX_PAGE_SIZE))), MAX_PAGE_SIZE)
        after = _parse(query["after"]) if "after" in query else None
        until = _parse(query["until"]) if "until" in query else None
        entries = sorted(
            (f for f in self.fills
             if (after is None or _parse(f["transaction_time"]) > after)
             and (until is None or _parse(f["transaction_time"]) <= until)),
            key=lambda f: (_parse(f["transaction_time"]), f["id"]),
            reverse=query.get("direction", "desc") == "desc",
        )
        token = None if stuck else query.get("page_token")
        if token is not None:
            ids = [f["id"] for f in entries]
            entries = entries[ids.index(token) + 1:] if token in ids else []
        return entries[:size]

    def endless_orders(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """A full page of orders never seen before, one second apart, just before the page's until."""
        until = _parse(query["until"]) if "until" in query else datetime.now(UTC)
        limit = min(int(query.get("limit", "50")), MAX_LIMIT)
        return [order(str(uuid.uuid4()), "AMD", "buy", "new", "1", until - timedelta(seconds=n + 1))
                for n in range(limit)]

    def endless_fills(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """A full page of fills never seen before."""
        until = _parse(query["until"]) if "until" in query else datetime.now(UTC)
        size = min(int(query.get("page_size", str(MAX_PAGE_SIZE))), MAX_PAGE_SIZE)
        return [fill(str(uuid.uuid4()), "AMD", "buy", "1", "100", until - timedelta(seconds=n + 1),
                     sequence=n) for n in range(size)]

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """GET /v2/orders/{id}: the order (a parent with its legs), or None."""
        return next((o for o in self._all_orders() if o["id"] == order_id.lower()), None)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # A client that timed out and hung up is what the slow fault is for.


class _Handler(BaseHTTPRequestHandler):
    api: AlpacaServer
    trickle_s: float | None = None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        self.api.seen.append(Seen("GET", url.path, query, dict(self.headers.items())))
        fault = self.api._fault_for(url.path)
        self.trickle_s = fault.delay_s if fault is not None and fault.kind == "trickle" else None
        endless = fault is not None and fault.kind == "endless"
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        elif fault is not None and fault.kind == "429":
            return self._reply(429, {"code": 42910000, "message": "rate limit exceeded"})
        elif fault is not None and fault.kind == "500":
            return self._error(500, 50010000, "internal server error")
        elif fault is not None and fault.kind == "garbled":
            return self._send(200, b'[{"id": "a0000000-0000-4000-8000-0000\x00\xff')
        if (self.headers.get("APCA-API-KEY-ID") != self.api.api_key
                or self.headers.get("APCA-API-SECRET-KEY") != self.api.secret_key):
            return self._error(401, 40110000, "request is not authorized")
        if url.path == "/v2/account":
            return self._reply(200, self.api.account)
        if url.path == "/v2/account/activities/FILL":
            if endless:
                return self._reply(200, self.api.endless_fills(query))
            stuck = fault is not None and fault.kind == "stuck"
            return self._reply(200, self.api.list_fills(query, stuck=stuck))
        if url.path == "/v2/positions":
            return self._reply(200, self.api.positions)
        if url.path == "/v2/orders":
            if endless:
                return self._reply(200, self.api.endless_orders(query))
            if fault is not None and fault.kind == "stuck":
                query = {name: value for name, value in query.items() if name != "until"}
            return self._reply(200, self.api.list_orders(query))
        if url.path.startswith("/v2/orders/"):
            order_id = url.path.removeprefix("/v2/orders/")
            found = self.api.get_order(order_id)
            if found is None:
                return self._reply(404, {"code": 40410000, "message": f"order not found for {order_id}"})
            return self._reply(200, found)
        return self._reply(404, {"code": 40400000, "message": "endpoint not found"})

    def _error(self, status: int, code: int, message: str) -> None:
        body: dict[str, Any] = {"code": code, "message": message}
        if self.api.echo_credentials:  # as a careless proxy might: the sent keys, verbatim
            key, secret = self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY")
            body.update(message=f"{message} for key {key} and secret {secret}", key_id=key,
                        secret_key=secret, account_number=self.api.account.get("account_number"))
        self._reply(status, body)

    def _reply(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode())

    def _send(self, status: int, body: bytes) -> None:
        if self.trickle_s is not None:
            return self._trickle(status, body, self.trickle_s)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, status: int, body: bytes, every_s: float) -> None:
        """The whole reply, one byte every every_s: each socket read gets something in time."""
        head = (f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
                f"Content-Type: application/json; charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        self.close_connection = True
        for byte in head.encode() + body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(every_s)  # until the client hangs up: the write then fails, ending the thread

    def version_string(self) -> str:
        return "alpaca-test-server"

    def date_time_string(self, timestamp: float | None = None) -> str:
        return self.api.date or super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # The request log is self.api.seen; stderr stays quiet.

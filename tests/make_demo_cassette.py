"""Regenerate cassettes/demo.yaml by recording the broker checks against a local broker holding the demo book.

    .venv/bin/python -m tests.make_demo_cassette

The book matches fixtures/demo.sql at tradewatch.demo.DEMO_AS_OF: AAPL long 100 and TSLA
short 30 agree; MSFT is 48 at the broker (50 in the database); NVDA is gone (position 7
open); AMD is still held (position 8 closed); order 17 filled; order 21 unknown; and an
AMD sell limit the database never heard of rests at the broker. Since the previous session
opened (2025-12-30 09:30) every filled order has its fills: order 16 filled at 191.50 where
the database says 190, order 19's exit never filled, the MSFT trim is nobody's. TSLA's cost
basis is 452.50 at the broker (450 in the database). The account is blocked, short of buying
power, a pattern day trader at 3 day trades, and down 5 % on the day.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.alpaca_server import AlpacaServer, account, fill, new_york, order, position
from tradewatch.demo import CHECKOUT, DEMO_AS_OF, DEMO_CASSETTE

DEMO_KEY = "demo-key"
DEMO_SECRET = "demo-secret"  # made up; must never reach the cassette
PORT = 18765  # fixed, so the recorded URLs do not change from one regeneration to the next


def _id(number: int, prefix: str = "a") -> str:
    return f"{prefix}0000000-0000-4000-8000-{number:012d}"


def demo_book() -> AlpacaServer:
    """The broker's side of the demo desk."""
    orders = [
        order(_id(1), "META", "buy", "filled", "40", new_york("2025-12-30T09:45"),
              filled_avg_price="600", filled_at=new_york("2025-12-30T09:45:01")),
        order(_id(2), "META", "sell", "filled", "40", new_york("2025-12-30T15:30"),
              filled_avg_price="606", filled_at=new_york("2025-12-30T15:30:01")),
        order(_id(3), "GOOGL", "sell", "filled", "60", new_york("2025-12-30T10:10"),
              filled_avg_price="190", filled_at=new_york("2025-12-30T10:10:01")),
        order(_id(4), "GOOGL", "buy", "filled", "60", new_york("2025-12-30T14:20"),
              filled_avg_price="187", filled_at=new_york("2025-12-30T14:20:01")),
        order(_id(5), "AMZN", "buy", "filled", "30", new_york("2025-12-30T11:00"), order_type="limit",
              order_class="bracket", limit_price="230", filled_avg_price="230",
              filled_at=new_york("2025-12-30T11:00:01"), legs=[
                  order(_id(6), "AMZN", "sell", "filled", "30", new_york("2025-12-30T11:00"),
                        order_type="stop", order_class="bracket", stop_price="227",
                        filled_avg_price="227", filled_at=new_york("2025-12-30T13:05")),
                  order(_id(7), "AMZN", "sell", "canceled", "30", new_york("2025-12-30T11:00"),
                        order_type="limit", order_class="bracket", limit_price="236",
                        canceled_at=new_york("2025-12-30T13:05")),
              ]),
        order(_id(8), "AAPL", "buy", "filled", "100", new_york("2025-12-31T09:40"),
              order_class="bracket", filled_avg_price="250", filled_at=new_york("2025-12-31T09:40:01"),
              legs=[
                  order(_id(9), "AAPL", "sell", "held", "100", new_york("2025-12-31T09:40"),
                        order_type="stop", order_class="bracket", stop_price="246"),
                  order(_id(10), "AAPL", "sell", "new", "100", new_york("2025-12-31T09:40"),
                        order_type="limit", order_class="bracket", limit_price="258"),
              ]),
        order(_id(11), "MSFT", "buy", "filled", "50", new_york("2025-12-31T09:50"),
              filled_avg_price="480", filled_at=new_york("2025-12-31T09:50:01")),
        order(_id(13), "TSLA", "sell", "filled", "30", new_york("2025-12-31T09:55"),
              order_class="bracket", filled_avg_price="450", filled_at=new_york("2025-12-31T09:55:01"),
              legs=[
                  order(_id(14), "TSLA", "buy", "held", "30", new_york("2025-12-31T09:55"),
                        order_type="stop", order_class="bracket", stop_price="460"),
                  order(_id(15), "TSLA", "buy", "new", "30", new_york("2025-12-31T09:55"),
                        order_type="limit", order_class="bracket", limit_price="430"),
              ]),
        # The database recorded this entry at 190; the broker filled it at 191.50.
        order(_id(16), "NVDA", "buy", "filled", "20", new_york("2025-12-31T10:05"),
              filled_avg_price="191.5", filled_at=new_york("2025-12-31T10:05:01")),
        # The exit the database still thinks is submitted.
        order(_id(17), "NVDA", "sell", "filled", "20", new_york("2025-12-31T10:40"),
              filled_avg_price="192.5", filled_at=new_york("2025-12-31T10:40:02")),
        order(_id(18), "AMD", "buy", "filled", "25", new_york("2025-12-31T10:00"),
              filled_avg_price="140", filled_at=new_york("2025-12-31T10:00:01")),
        # The database says this exit filled; the broker cancelled it, so AMD is still held.
        order(_id(19), "AMD", "sell", "canceled", "25", new_york("2025-12-31T10:15"),
              canceled_at=new_york("2025-12-31T10:15:30")),
        order(_id(20), "AAPL", "buy", "filled", "10", new_york("2025-12-31T10:20"),
              filled_avg_price="251", filled_at=new_york("2025-12-31T10:20:01")),
        order(_id(23), "AMZN", "buy", "canceled", "12", new_york("2025-12-31T10:45"),
              order_type="limit", limit_price="226", canceled_at=new_york("2025-12-31T10:50")),
        # Placed by hand at the broker: the MSFT trim, and an AMD exit nobody recorded.
        order(_id(2, "b"), "MSFT", "sell", "filled", "2", new_york("2025-12-31T10:30"),
              filled_avg_price="481", filled_at=new_york("2025-12-31T10:30:01")),
        order(_id(1, "b"), "AMD", "sell", "new", "25", new_york("2025-12-31T10:20"),
              order_type="limit", limit_price="146"),
    ]
    positions = [
        position("AAPL", "100", price="250"),
        position("MSFT", "48", price="480"),
        # The database's entry is 450; the broker's cost basis 452.50 (0.56 % apart).
        {**position("TSLA", "-30", price="450"), "avg_entry_price": "452.5"},
        position("AMD", "25", price="140"),
    ]
    fills = [fill(order_id, symbol, side, qty, price, new_york(when))
             for order_id, symbol, side, qty, price, when in (
        (_id(1), "META", "buy", "40", "600", "2025-12-30T09:45:01"),
        (_id(2), "META", "sell", "40", "606", "2025-12-30T15:30:01"),
        (_id(3), "GOOGL", "sell", "60", "190", "2025-12-30T10:10:01"),
        (_id(4), "GOOGL", "buy", "60", "187", "2025-12-30T14:20:01"),
        (_id(5), "AMZN", "buy", "30", "230", "2025-12-30T11:00:01"),
        (_id(6), "AMZN", "sell", "30", "227", "2025-12-30T13:05:00"),
        (_id(8), "AAPL", "buy", "100", "250", "2025-12-31T09:40:01"),
        (_id(11), "MSFT", "buy", "50", "480", "2025-12-31T09:50:01"),
        (_id(13), "TSLA", "sell", "30", "450", "2025-12-31T09:55:01"),
        (_id(16), "NVDA", "buy", "20", "191.5", "2025-12-31T10:05:01"),
        (_id(17), "NVDA", "sell", "20", "192.5", "2025-12-31T10:40:02"),
        (_id(18), "AMD", "buy", "25", "140", "2025-12-31T10:00:01"),
        (_id(20), "AAPL", "buy", "10", "251", "2025-12-31T10:20:01"),
        (_id(2, "b"), "MSFT", "sell", "2", "481", "2025-12-31T10:30:01"),
    )]
    held = account(trading_blocked=True, buying_power="-1250.00", pattern_day_trader=True, daytrade_count=3,
                   equity="95000.00", last_equity="100000.00", cash="-1250.00")
    return AlpacaServer(positions, orders, api_key=DEMO_KEY, secret_key=DEMO_SECRET, port=PORT,
                        date="Wed, 31 Dec 2025 16:00:00 GMT", fills=fills, account=held)


def main() -> int:
    """Record into a scratch file, check it holds no secret, then put it in place."""
    scratch = DEMO_CASSETTE.with_name("demo.recording.yaml")
    scratch.unlink(missing_ok=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "TRADEWATCH_REQUIRE_DATABASE", "TRADEWATCH_AS_OF",
                          "TRADEWATCH_BROKER_CASSETTE")}
    with demo_book() as server:
        env.update(ALPACA_BASE_URL=server.url, ALPACA_API_KEY=DEMO_KEY, ALPACA_SECRET_KEY=DEMO_SECRET)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "checks/test_broker.py", "-p", "no:cacheprovider", "-q",
             f"--broker-cassette={scratch}", "--record-mode=all", f"--as-of={DEMO_AS_OF.isoformat()}",
             "--tradewatch-report="],
            cwd=CHECKOUT, env=env, check=False,
        )
    if run.returncode not in (0, 1) or not scratch.exists():
        print(f"recording failed (pytest exit {run.returncode})", file=sys.stderr)
        return 1
    text = scratch.read_text()
    leaked = [name for name, value in (("key", DEMO_KEY), ("secret", DEMO_SECRET)) if value in text]
    if leaked:
        print(f"the recording holds the {' and '.join(leaked)}: not installed", file=sys.stderr)
        return 1
    scratch.replace(DEMO_CASSETTE)
    print(f"wrote {DEMO_CASSETTE.relative_to(CHECKOUT)} ({server.count()} requests recorded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real `pytest checks/`, in a process of its own, against a database link that stalls mid-run and a
broker that trickles: each run ends within its deadline, writes its report, and reads as an ERROR."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg import conninfo

from tests.alpaca_server import AlpacaServer, position
from tests.conftest import CHECKOUT
from tests.stall_proxy import StallProxy
from tradewatch import report

RUN_DEADLINE_S = 60
# However the run goes wrong, this test does not wait on it longer than this.
OUTER_TIMEOUT_S = 240
# Python's start-up and collection come before the run's deadline starts counting.
START_UP_S = 30
# The first table read of the clean seed's layout: the link stalls as it is sent.
ORDERS_READ = b'SELECT "o"."order_id"'
SETTING_ENV = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL", "ALPACA_PAPER", "DATABASE_URL",
               "TRADEWATCH_BROKER_CASSETTE", "TRADEWATCH_BROKER_TIMEOUT", "TRADEWATCH_AS_OF",
               "TRADEWATCH_RUN_DEADLINE", "TRADEWATCH_STATEMENT_TIMEOUT", "TRADEWATCH_LOCK_TIMEOUT")


def _checks(database_url: str, report_path: Path, *args: str, env: dict[str, str] | None = None
            ) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `pytest checks/` as the scheduled job does, in a child process; its result and duration."""
    child_env = {name: value for name, value in os.environ.items() if name not in SETTING_ENV}
    child_env.update(env or {})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "-q",
         f"--database-url={database_url}", "--as-of=2025-12-31T11:00:00-05:00",
         f"--tradewatch-report={report_path}", f"--run-deadline={RUN_DEADLINE_S}", *args],
        cwd=CHECKOUT, env=child_env, capture_output=True, text=True, timeout=OUTER_TIMEOUT_S, check=False,
    )
    return done, time.monotonic() - started


def _summary(report_path: Path) -> int:
    done = subprocess.run([sys.executable, "-m", "tradewatch.cli", "summary", str(report_path)],
                          cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode


def _errors(data: dict[str, Any]) -> dict[str, str]:
    return {test["nodeid"]: test["metadata"]["error"] for test in data["tests"] if test["outcome"] == "error"}


def test_a_database_link_that_stalls_mid_run(seeded_db: Callable[..., str], tmp_path: Path) -> None:
    url = seeded_db("clean")
    params = conninfo.conninfo_to_dict(url)
    report_path = tmp_path / "report.json"
    with StallProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432),
                    stall_on=ORDERS_READ) as proxy:
        done, elapsed = _checks(conninfo.make_conninfo(url, host="127.0.0.1", port=proxy.port), report_path,
                                "--statement-timeout=2")
        assert proxy.stalled.is_set()  # the link did stall, mid-run
    assert elapsed < RUN_DEADLINE_S + START_UP_S, done.stdout[-2000:]
    data = report.load(report_path)
    errors = _errors(data)
    assert errors, done.stdout[-2000:]
    assert {error.split(":", 1)[0] for error in errors.values()} == {"the database session was lost"}
    assert "checks/test_orders.py::test_order_status_known" in errors
    cycles = [test["outcome"] for test in data["tests"] if "test_cycles.py" in test["nodeid"]]
    assert "passed" in cycles  # read before the stall
    assert _summary(report_path) == 3
    assert "Traceback" not in done.stdout + done.stderr


def test_a_database_link_that_stalls_while_the_session_starts(
    seeded_db: Callable[..., str], tmp_path: Path,
) -> None:
    """Reached, then stalled while the check session is set up: the run ends with its report, every
    check an error, and no traceback."""
    url = seeded_db("clean")
    params = conninfo.conninfo_to_dict(url)
    report_path = tmp_path / "report.json"
    with StallProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432),
                    stall_on=b"TimeZone") as proxy:
        done, elapsed = _checks(conninfo.make_conninfo(url, host="127.0.0.1", port=proxy.port), report_path,
                                "--statement-timeout=2")
        assert proxy.stalled.is_set()  # the link did stall, at start
    assert elapsed < RUN_DEADLINE_S + START_UP_S, done.stdout[-2000:]
    data = report.load(report_path)
    assert data["tradewatch"]["error"].startswith("the database session was lost at start: ")
    assert {test["outcome"] for test in data["tests"]} == {"error"}
    assert _summary(report_path) == 3
    assert "Traceback" not in done.stdout + done.stderr


def test_a_broker_that_trickles(seeded_db: Callable[..., str], tmp_path: Path) -> None:
    url = seeded_db("clean")
    report_path = tmp_path / "report.json"
    with AlpacaServer(positions=[position("AAPL", "100"), position("TSLA", "-30")]) as broker:
        broker.fail("trickle", path="/v2/positions", delay_s=0.5)  # every read gets a byte in time
        done, elapsed = _checks(url, report_path, "--broker-timeout=2", env={
            "ALPACA_BASE_URL": broker.url, "ALPACA_API_KEY": broker.api_key,
            "ALPACA_SECRET_KEY": broker.secret_key})
    assert elapsed < RUN_DEADLINE_S + START_UP_S, done.stdout[-2000:]
    data = report.load(report_path)
    errors = _errors(data)
    # The risk limits are off unless set: not applicable, they ask the broker nothing.
    broker_checks = [test["nodeid"] for test in data["tests"]
                     if "test_broker.py" in test["nodeid"] and "risk_limits" not in test["nodeid"]]
    assert broker_checks
    assert set(errors) == set(broker_checks), errors
    assert all(error.endswith("did not answer within 2 s") for error in errors.values()), errors
    # The timing of the checks themselves: the broker's took the timeout, not the trickle's minutes.
    durations = [test["call"]["duration"] for test in data["tests"] if test["nodeid"] in broker_checks]
    assert sum(durations) < 2 + 10
    assert _summary(report_path) == 3

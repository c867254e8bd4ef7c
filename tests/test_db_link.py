"""The check session's link: keepalives, a bound on every round trip, a lost session said once, and
a lock held elsewhere that errors its checks after the lock timeout, not the statement timeout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from tests.conftest import RunChecks
from tests.pg import open_run
from tests.stall_proxy import StallProxy
from tradewatch import catalogue, db, deadline
from tradewatch.checkrun import CheckRun


def _through(proxy: StallProxy, url: str) -> str:
    return conninfo.make_conninfo(url, host="127.0.0.1", port=proxy.port)


@pytest.fixture
def clean_url(seeded_db: Callable[..., str]) -> str:
    """A database with the clean seed."""
    return seeded_db("clean")


@pytest.fixture
def proxy(clean_url: str) -> Iterator[StallProxy]:
    """A proxy to the clean database's server, relaying until told to stall."""
    params = conninfo.conninfo_to_dict(clean_url)
    with StallProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)) as relay:
        yield relay


def test_sessions_keep_the_link_alive(clean_url: str) -> None:
    """Keepalives and a TCP user timeout are asked of libpq; a URL's own values win."""
    with db.connect(clean_url, read_only=True, statement_timeout_s=5) as conn:
        asked = conn.info.get_parameters()
    assert {name: asked.get(name) for name in db.LINK_OPTIONS} == {
        name: str(value) for name, value in db.LINK_OPTIONS.items()}
    with db.connect(conninfo.make_conninfo(clean_url, keepalives_idle=99), read_only=True) as conn:
        assert conn.info.get_parameters()["keepalives_idle"] == "99"


def test_a_stalled_link_is_a_lost_session_said_once(clean_url: str, proxy: StallProxy) -> None:
    """The link stops relaying mid-run (keepalives are answered, so TCP sees nothing wrong): the check
    under way errors after the statement timeout and its grace; every later database check errors
    at once, sending nothing more down the link."""
    run = open_run(_through(proxy, clean_url), as_of="2025-12-31T11:00:00-05:00", statement_timeout_s="1")
    # Should the session's own bound fail, this one ends the test rather than hanging the suite.
    with deadline.bounded(120, "the stalled session was never given up on"):
        try:
            _judge_on_a_stalled_link(run, proxy)
        finally:
            run.close()


def _judge_on_a_stalled_link(run: CheckRun, proxy: StallProxy) -> None:
    """Stall the link, then judge every database check; the first one waits, no later one does."""
    proxy.stall()
    first = run.verdict(catalogue.BY_NAME["order_status_known"], None)
    assert first.error is not None
    assert first.error.startswith("the database session was lost: no reply from the server within 6 s")
    asked = proxy.asked_while_stalled()
    assert asked  # the query went out, and nothing came back
    later: dict[str, Any] = {}
    for rule in catalogue.RULES:
        if rule.broker:
            continue
        for case in rule.cases or (None,):
            later[f"{rule.name}[{case}]"] = run.verdict(rule, case).error
    assert proxy.asked_while_stalled() == asked  # nothing else was asked: nothing waited again
    lost = {name: error for name, error in later.items() if error is not None}
    assert lost  # the reads of orders, positions and cycles, and the view
    assert {error for error in lost.values()} == {first.error}
    for name in ("position_values_known[side]", "cycle_status_known[None]", "pipeline_view_runs[None]"):
        assert name in lost


@pytest.fixture
def locked_orders(clean_url: str) -> Iterator[None]:
    """Another session holds the orders table in ACCESS EXCLUSIVE mode while the test runs."""
    with psycopg.connect(clean_url) as holder:
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


def test_a_locked_table_errors_its_checks_after_the_lock_timeout(
    clean_url: str, locked_orders: None, run_checks: RunChecks
) -> None:
    """The checks reading orders error on the lock timeout (not each on the statement timeout); the
    checks that do not read orders pass."""
    _, report = run_checks(clean_url, "-m", "not broker", "--lock-timeout=0.5", "--statement-timeout=20")
    errors = {test["nodeid"]: test["metadata"]["error"]
              for test in report["tests"] if test["outcome"] == "error"}
    assert "checks/test_orders.py::test_order_status_known" in errors
    assert all("lock timeout" in error for error in errors.values()), errors
    positions = [test["outcome"] for test in report["tests"] if "test_positions.py" in test["nodeid"]]
    assert positions
    assert set(positions) == {"passed"}


def test_a_session_the_server_ends_is_lost_for_every_later_check(clean_url: str) -> None:
    """The server ends the session (an administrator, a restart): the check under way and every later
    one error with the same line, saying the session was lost and why."""
    run = open_run(clean_url, as_of="2025-12-31T11:00:00-05:00")
    try:
        with psycopg.connect(clean_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (run.watched.conn.info.backend_pid,))
        first = run.verdict(catalogue.BY_NAME["order_status_known"], None)
        assert first.error is not None
        assert first.error.startswith("the database session was lost: ")
        assert "terminating connection" in first.error
        assert run.verdict(catalogue.BY_NAME["position_values_known"], "side").error == first.error
    finally:
        run.close()

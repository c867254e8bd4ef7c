"""The run's deadline: nested bounds interrupt blocking reads, and a run cut by its deadline still reports."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alpaca_server import AlpacaServer
from tests.conftest import CHECKS_DIR, QUICK_RUN
from tradewatch import cli, db, deadline, report


@pytest.fixture
def quiet_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected sockets on which nothing is ever sent: a read on either blocks."""
    left, right = socket.socketpair()
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def test_a_bound_interrupts_a_blocking_read(quiet_pair: tuple[socket.socket, socket.socket]) -> None:
    """A socket read with no timeout of its own ends when the bound passes."""
    reader, _ = quiet_pair
    with pytest.raises(deadline.Expired, match="nothing came") as caught, \
            deadline.bounded(0.3, "nothing came") as bound:
        reader.recv(1)
    assert caught.value.bound is bound


def test_the_inner_bound_fires_first_then_the_outer(quiet_pair: tuple[socket.socket, socket.socket]) -> None:
    """Nested: the statement's bound ends the read; the run's bound still ends what comes after."""
    reader, _ = quiet_pair
    entered: list[deadline.Bound] = []
    fired: list[deadline.Bound] = []

    def read_twice() -> None:
        try:
            with deadline.bounded(0.2, "statement") as inner:
                entered.append(inner)
                reader.recv(1)
        except deadline.Expired as exc:
            fired.append(exc.bound)
        reader.recv(1)  # no bound of its own any more: the run's ends it

    with pytest.raises(deadline.Expired) as caught, deadline.bounded(1.0, "run") as outer:
        read_twice()
    assert caught.value.bound is outer
    assert fired == entered


def test_an_outer_bound_passing_first_is_the_one_raised(
    quiet_pair: tuple[socket.socket, socket.socket],
) -> None:
    """A statement bound longer than what is left of the run: the run's deadline ends the read."""
    reader, _ = quiet_pair
    with pytest.raises(deadline.Expired) as caught, deadline.bounded(0.2, "run") as outer, \
            deadline.bounded(30, "statement"):
        reader.recv(1)
    assert caught.value.bound is outer


def test_bounds_leave_the_alarm_as_they_found_it() -> None:
    """After the last bound, the previous SIGALRM handler is back and no timer is left running."""
    before = signal.getsignal(signal.SIGALRM)
    with deadline.bounded(5, "outer"), deadline.bounded(2, "inner"):
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.fixture
def counted_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """Every check session round trip, and every check refused by the deadline, in order."""
    events: list[tuple[str, float]] = []
    wait, before = db.Session.wait, deadline.RunDeadline.before

    def counting_wait(self: db.Session, *args: Any, **kwargs: Any) -> Any:
        events.append(("round trip", time.monotonic()))
        return wait(self, *args, **kwargs)

    def counting_before(self: deadline.RunDeadline) -> str:
        events.append(("refused", time.monotonic()))
        return before(self)

    monkeypatch.setattr(db.Session, "wait", counting_wait)
    monkeypatch.setattr(deadline.RunDeadline, "before", counting_before)
    return events


def test_a_run_cut_by_its_deadline_reports_every_check(
    seeded_db: Callable[..., str], pytester: pytest.Pytester, tmp_path: Path,
    counted_round_trips: list[tuple[str, float]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A view that sleeps past the run's deadline: that check errors saying so, every later one errors
    at once without a database round trip or a broker request, and the report says ERROR."""
    url = seeded_db("clean", "view_slow")
    report_path = tmp_path / "report.json"
    with AlpacaServer() as broker:
        for name, value in (("ALPACA_BASE_URL", broker.url), ("ALPACA_API_KEY", broker.api_key),
                            ("ALPACA_SECRET_KEY", broker.secret_key)):
            monkeypatch.setenv(name, value)
        started = time.monotonic()
        result = pytester.runpytest_inprocess(
            str(CHECKS_DIR), *QUICK_RUN, f"--database-url={url}", "--as-of=2025-12-31T11:00:00-05:00",
            f"--tradewatch-report={report_path}", "--run-deadline=10", "--statement-timeout=25",
        )
        elapsed = time.monotonic() - started
        assert broker.count() == 0  # the broker checks come last: the deadline had passed
    assert elapsed < 30  # not the statement timeout, let alone one per check
    data = report.load(report_path)
    errors = {test["nodeid"]: test["metadata"]["error"]
              for test in data["tests"] if test["outcome"] == "error"}
    during = [nodeid for nodeid, error in errors.items() if "passed during this check" in error]
    assert during == ["checks/test_cycles.py::test_cycle_for_today"], errors
    refused = [nodeid for nodeid, error in errors.items() if error.startswith(deadline.BEFORE)]
    broker_checks = [test["nodeid"] for test in data["tests"] if "test_broker.py" in test["nodeid"]]
    assert set(broker_checks) <= set(refused)
    assert len(refused) == len(errors) - 1
    assert "run deadline (10 s, --run-deadline) passed" in data["tradewatch"]["error"]
    assert cli.main(["summary", str(report_path)]) == 3
    # Nothing was asked of the database once the first check was refused.
    first_refusal = next(moment for what, moment in counted_round_trips if what == "refused")
    assert not [moment for what, moment in counted_round_trips
                if what == "round trip" and moment > first_refusal]
    # Each check that could not run is one line: no traceback.
    assert not [line for line in result.outlines if line.startswith(("Traceback", "E   "))]
    said = [line for line in result.outlines if "check could not run: the run deadline" in line]
    assert said


HANGING_CHECKS = """
import time

import pytest


@pytest.fixture
def stuck():
    time.sleep(120)  # a fixture that never returns in time, outside any check's own bound


def test_hangs(stuck):
    pass


def test_after_one():
    pass


def test_after_two():
    pass
"""


def test_a_hang_outside_the_checks_ends_the_loop(
    seeded_db: Callable[..., str], pytester: pytest.Pytester, tmp_path: Path,
) -> None:
    """Something other than a check hangs: the loop's own deadline stops the run; the checks never run
    are errors of the report, which is written, and the run is an ERROR."""
    url = seeded_db("clean")
    pytester.makeini("[pytest]\n")
    # A tradewatch checkout's own checks/ is what the plugin judges: this folder passes for one.
    pytester.makefile(".toml", pyproject='[project]\nname = "tradewatch"\n')
    pytester.makeconftest('pytest_plugins = ["tradewatch.plugin"]\n')
    pytester.mkdir("checks")
    (pytester.path / "checks" / "test_hanging.py").write_text(HANGING_CHECKS)
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    result = pytester.runpytest_inprocess(
        "checks", *QUICK_RUN, f"--database-url={url}", f"--tradewatch-report={report_path}",
        "--run-deadline=4",
    )
    assert time.monotonic() - started < 60  # not the fixture's two minutes
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = report.load(report_path)
    outcomes = {test["nodeid"].rpartition("::")[2]: test for test in data["tests"]}
    assert outcomes["test_hangs"]["outcome"] == "error"
    for name in ("test_after_one", "test_after_two"):
        assert outcomes[name]["outcome"] == "error"
        assert outcomes[name]["metadata"]["error"] == deadline.BEFORE
    assert "run deadline (4 s, --run-deadline) passed" in data["tradewatch"]["error"]
    assert cli.main(["summary", str(report_path)]) == 3

"""Time bounds, nested (the run's deadline outside, a statement's or a request's inside), kept by SIGALRM."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

# Why a signal and not a thread: only a signal interrupts a blocking socket read in the main thread
# (the read returns EINTR, the handler raises), whatever library is reading.

BEFORE = "the run deadline passed before this check ran"


@dataclass(eq=False)
class Bound:
    """One bound: when it ends (time.monotonic()) and the line that says it passed."""

    ends: float
    message: str
    on_fire: Callable[[], None] | None = None  # called (in the handler) just before Expired is raised
    fired: bool = field(default=False)

    @property
    def passed(self) -> bool:
        """Whether its time is up (fired or not)."""
        return time.monotonic() >= self.ends


class Expired(BaseException):
    """A bound passed. A BaseException, like KeyboardInterrupt: no `except Exception` swallows it."""

    def __init__(self, bound: Bound) -> None:
        super().__init__(bound.message)
        self.bound = bound
        self.message = bound.message


_active: list[Bound] = []
_previous: Any = None  # the SIGALRM handler before the first bound, restored after the last


def _arm() -> None:
    """Set the timer to the earliest bound still to fire, or clear it."""
    waiting = [bound.ends for bound in _active if not bound.fired]
    if not waiting:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    # Zero would clear the timer: a bound already due fires at once instead.
    signal.setitimer(signal.ITIMER_REAL, max(min(waiting) - time.monotonic(), 1e-4))


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    """Raise Expired for the bound that passed (the innermost when several did); re-arm for the rest."""
    now = time.monotonic()
    due = [bound for bound in _active if not bound.fired and bound.ends <= now]
    if not due:
        _arm()  # woken early: wait on
        return
    bound = due[-1]
    bound.fired = True  # once: the code unwinding from it must not be interrupted again
    _arm()
    if bound.on_fire is not None:
        bound.on_fire()
    raise Expired(bound)


def in_main_thread() -> bool:
    """Whether bounds are kept here: signals reach the main thread only."""
    return threading.current_thread() is threading.main_thread()


@contextmanager
def bounded(
    seconds: float | None = None, message: str = "", *, ends: float | None = None,
    on_fire: Callable[[], None] | None = None,
) -> Iterator[Bound]:
    """Raise Expired in the block when `seconds` (or the moment `ends`) pass; nests with other bounds.

    Off the main thread the bound is not kept (no signal can reach the block there)."""
    if ends is None:
        ends = time.monotonic() + (seconds if seconds is not None else float("inf"))
    bound = Bound(ends, message, on_fire)
    if not in_main_thread() or ends == float("inf"):
        yield bound
        return
    global _previous
    if not _active:
        _previous = signal.signal(signal.SIGALRM, _on_alarm)
    _active.append(bound)
    try:
        _arm()
        yield bound
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # nothing fires while the stack changes
        _active.remove(bound)  # by identity: generator-held bounds may close out of order
        if _active:
            _arm()
        else:
            signal.signal(signal.SIGALRM, _previous)
            _previous = None


class RunDeadline:
    """The whole run's deadline: each check runs bounded by what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.cut = False  # whether it cut something short: a check, or the run itself

    @property
    def passed(self) -> bool:
        """Whether the run's time is up."""
        return time.monotonic() >= self.ends

    def during(self, what: str) -> str:
        """The line a check (or a step) cut by the deadline ends with."""
        return f"the run deadline ({self.seconds:g} s, --run-deadline) passed during {what}"

    def before(self) -> str:
        """The line of a check the deadline left no time for."""
        self.cut = True
        return f"{BEFORE} ({self.seconds:g} s, --run-deadline)"

    @contextmanager
    def bound(self, what: str) -> Iterator[Bound]:
        """Bound a block by the run's deadline; Expired says it passed during `what`."""
        with bounded(ends=self.ends, message=self.during(what)) as bound:
            try:
                yield bound
            except Expired as exc:
                if exc.bound is bound:
                    self.cut = True
                raise

"""The heartbeat: after every checks run a local receiver hears the plain URL when the run completed,
its /fail when the run is an ERROR; a receiver that is down never changes the run's outcome."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, RunChecks
from tests.pg import run_sql_file
from tradewatch import deadline, demo, heartbeat

# The check's secret part of a healthchecks URL: it must never be shown.
CHECK_UUID = "5f1c0a7e-hb-secret-0d3b"
# What a slow receiver answers: a header line every so often, never the end of the headers; or a
# 503 asking to be retried in an hour.
TRICKLE = b"HTTP/1.1 200 OK\r\n"
RETRY_LATER = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3600\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Receiver:
    """A healthchecks-style receiver on 127.0.0.1: records every ping, answers with the statuses given."""

    statuses: list[int] = field(default_factory=list)  # answered in turn; then 200
    pings: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, body
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver serving in a thread for the test's length."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            state.pings.append((self.command, self.path, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/ping/{CHECK_UUID}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=[TRICKLE, RETRY_LATER], ids=["trickling", "retry-in-an-hour"])
def slow_receiver(request: pytest.FixtureRequest) -> Iterator[str]:
    """A receiver on 127.0.0.1 that never answers in time (trickling, or asking to retry much later)."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            try:
                self.request.sendall(request.param)
                while request.param == TRICKLE and not stop.wait(0.2):
                    self.request.sendall(b"X-Trickle: 1\r\n")
            except OSError:
                pass  # the client gave up and hung up: what the test waits for

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/{CHECK_UUID}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def output(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines + result.errlines)


def test_a_completed_run_pings_the_plain_url(
    seeded_db: Any, run_checks: RunChecks, receiver: Receiver, tmp_path: Path
) -> None:
    result, _ = run_checks(seeded_db("clean"), "-m", "not broker", f"--heartbeat-url={receiver.url}")
    assert result.ret == pytest.ExitCode.OK
    [(method, path, body)] = receiver.pings
    assert (method, path) == ("POST", f"/ping/{CHECK_UUID}")
    assert body == "tradewatch OK: 0 critical, 0 warning, 0 info, 0 acknowledged"
    said = output(result)
    assert f"tradewatch: heartbeat sent to http://127.0.0.1:{receiver.url.split(':')[2].split('/')[0]} (ok)" \
        in said
    assert CHECK_UUID not in said
    assert CHECK_UUID not in (tmp_path / "report.json").read_text()


def test_a_run_with_findings_completed_too(
    migrated_db: str, run_checks: RunChecks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Findings are the alerting's business; the heartbeat says the job ran. The variable works too."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    monkeypatch.setenv("TRADEWATCH_HEARTBEAT_URL", receiver.url)
    result, _ = run_checks(migrated_db, "-m", "not broker")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [(_, path, body)] = receiver.pings
    assert path == f"/ping/{CHECK_UUID}"
    assert body.startswith("tradewatch CRITICAL: 3 critical, ")


def test_an_error_run_pings_fail(pytester: pytest.Pytester, receiver: Receiver, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), *QUICK_RUN, "--database-url=postgresql://u:pw@127.0.0.1:1/x",
        f"--tradewatch-report={report_path}", f"--heartbeat-url={receiver.url}/",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    [(_, path, body)] = receiver.pings
    assert path == f"/ping/{CHECK_UUID}/fail"
    assert body.startswith("tradewatch ERROR: 0 critical, 0 warning, 0 info, 0 acknowledged; ")
    assert "cannot reach database u@127.0.0.1:1/x" in body
    assert "pw" not in body.split(";", 1)[1]
    assert "heartbeat sent to" in output(result)
    assert "(fail)" in output(result)


def test_a_run_without_its_report_pings_fail(
    seeded_db: Any, pytester: pytest.Pytester, receiver: Receiver
) -> None:
    """With the report turned off the exit status decides: an interrupted run is a failure."""
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), *QUICK_RUN, f"--database-url={seeded_db('clean')}", "--tradewatch-report=",
        f"--heartbeat-url={receiver.url}", "--run-deadline=0.001",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    [(_, path, body)] = receiver.pings
    assert path == f"/ping/{CHECK_UUID}/fail"
    assert body == "tradewatch run ended with pytest exit status 2"


def test_a_receiver_in_trouble_is_retried_and_never_changes_the_outcome(
    seeded_db: Any, run_checks: RunChecks, receiver: Receiver
) -> None:
    clean = seeded_db("clean")
    receiver.statuses = [503, 200]
    result, _ = run_checks(clean, "-m", "not broker", f"--heartbeat-url={receiver.url}")
    assert result.ret == pytest.ExitCode.OK
    assert [path for _, path, _ in receiver.pings] == [f"/ping/{CHECK_UUID}"] * 2

    receiver.statuses = [404]
    result, _ = run_checks(clean, "-m", "not broker", f"--heartbeat-url={receiver.url}")
    assert result.ret == pytest.ExitCode.OK
    assert "heartbeat to http://127.0.0.1:" in output(result)
    assert "answered HTTP 404" in output(result)

    result, _ = run_checks(clean, "-m", "not broker", f"--heartbeat-url=http://127.0.0.1:1/ping/{CHECK_UUID}")
    assert result.ret == pytest.ExitCode.OK
    said = output(result)
    assert "tradewatch: heartbeat to http://127.0.0.1:1 failed: ConnectionError" in said
    assert CHECK_UUID not in said


def test_no_url_no_listing_no_ping(seeded_db: Any, run_checks: RunChecks, receiver: Receiver) -> None:
    clean = seeded_db("clean")
    run_checks(clean, "-m", "not broker")
    run_checks(clean, "--collect-only", f"--heartbeat-url={receiver.url}")
    assert receiver.pings == []


@pytest.mark.parametrize(("url", "failed", "pinged"), [
    ("https://hc-ping.com/abc", False, "https://hc-ping.com/abc"),
    ("https://hc-ping.com/abc", True, "https://hc-ping.com/abc/fail"),
    ("https://hc-ping.com/abc/?rid=7", True, "https://hc-ping.com/abc/fail?rid=7"),
])
def test_the_fail_url_keeps_the_query(url: str, failed: bool, pinged: str) -> None:
    assert heartbeat.target(url, failed) == pinged
    assert heartbeat.where(url) == "https://hc-ping.com"
    assert heartbeat.where(url.replace("hc-ping.com", "user:pw@[::1]:8443")) == "https://[::1]:8443"


def guard(seconds: float) -> AbstractContextManager[deadline.Bound]:
    """A bound on the test itself: a send that outlives its budget fails the test instead of hanging it."""
    return deadline.bounded(seconds, "the heartbeat outlived its budget")


def test_a_slow_receiver_is_given_up_on_within_the_budget(slow_receiver: str) -> None:
    """Each read has its timeout; the whole send, retries and their waits included, has its budget."""
    started = time.monotonic()
    with guard(5.0):
        said = heartbeat.send(slow_receiver, heartbeat.Beat(False, "tradewatch OK"), within=1.0)
    assert time.monotonic() - started < 3.0
    port = slow_receiver.split(":")[2].split("/")[0]
    assert said == f"heartbeat to http://127.0.0.1:{port} failed: no answer within 1 s"


def test_a_slow_receiver_never_holds_the_run(
    seeded_db: Any, run_checks: RunChecks, slow_receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heartbeat, "BUDGET_S", 1.0)
    with guard(30.0):
        result, _ = run_checks(seeded_db("clean"), "-m", "not broker", "--run-deadline=20",
                               f"--heartbeat-url={slow_receiver}")
    assert result.ret == pytest.ExitCode.OK
    said = output(result)
    assert "tradewatch: heartbeat to http://127.0.0.1:" in said
    assert "failed: no answer within 1 s" in said
    assert CHECK_UUID not in said


# A secret planted in each part of a URL that may hold one; none of these may ever show it.
PLANTED = "HBSECRET1-planted"


@pytest.mark.parametrize("url", [
    f"https://hc-ping.com:99999/{PLANTED}",
    f"https://hc-ping.com:port/{PLANTED}",
    f"https://hc-ping.com:{PLANTED}/x",
    f"hc-ping.com/{PLANTED}",
    f"{PLANTED}:x",
    f"http://[::1/{PLANTED}",
    f"http://user:{PLANTED}@127.0.0.1:1/{PLANTED}?k={PLANTED}",
    f"http://{PLANTED}@127.0.0.1:1/x",
])
def test_a_url_is_never_shown_beyond_its_host(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    shown = heartbeat.where(url)
    said = heartbeat.send(url, heartbeat.Beat(True, "tradewatch ERROR"), within=5.0)
    assert said is not None
    assert "\n" not in said
    assert PLANTED.lower() not in (shown + said + "".join(capsys.readouterr())).lower()


def test_a_malformed_url_is_one_line_in_the_run(seeded_db: Any, run_checks: RunChecks) -> None:
    url = f"https://hc-ping.com:99999/{PLANTED}"
    result, _ = run_checks(seeded_db("clean"), "-m", "not broker", f"--heartbeat-url={url}")
    assert result.ret == pytest.ExitCode.OK
    said = output(result)
    malformed = "the heartbeat URL is malformed (its host or port cannot be read)"
    assert f"tradewatch: heartbeat not sent: {malformed}" in said
    assert "Traceback" not in said
    assert PLANTED not in said

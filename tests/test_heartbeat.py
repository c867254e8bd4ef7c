"""The heartbeat: after every checks run a local receiver hears the plain URL when the run completed,
its /fail when the run is an ERROR; a receiver that is down never changes the run's outcome."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, RunChecks
from tests.pg import run_sql_file
from tradewatch import demo, heartbeat

# The check's secret part of a healthchecks URL: it must never be shown.
CHECK_UUID = "5f1c0a7e-hb-secret-0d3b"


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

"""The alert state: a wrong shape starts afresh, an unwritable path sends nothing, one run at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import filelock
import pytest

from tests.conftest import CHECKOUT, CHECKS_DIR, QUICK_RUN
from tests.pg import ScratchServer, run_sql_file
from tests.webhook_server import WebhookReceiver
from tradewatch import alerting, cli, demo


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A JSON webhook on 127.0.0.1 that records every notification."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TRADEWATCH_ALERT_URLS", raising=False)
    with WebhookReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def demo_report(
    pg_server: ScratchServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The report of one checks run on the demo desk (complete: no check errors), and its data."""
    url = pg_server.create(template=migrated_template)
    run_sql_file(url, demo.DEMO_SQL)
    report = tmp_path_factory.mktemp("demo") / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS_DIR), f"--database-url={url}", "-m", "not broker",
         "--as-of=2025-12-31T11:00:00-05:00", f"--tradewatch-report={report}", "-q", *QUICK_RUN],
        capture_output=True, cwd=CHECKOUT, timeout=300, check=False,
    )
    return report, json.loads(report.read_text())


def alert(
    capsys: pytest.CaptureFixture[str], report: Path, state: Path, *args: str
) -> tuple[int, list[str]]:
    """Run `tradewatch alert`; return its exit code and its stderr lines."""
    capsys.readouterr()
    code = cli.main(["alert", str(report), "--state", str(state), *args])
    return code, capsys.readouterr().err.splitlines()


def first_fingerprint(data: dict[str, Any]) -> str:
    """A fingerprint the report announces, so a broken entry under it is looked at."""
    return str(next(f["fingerprint"] for t in data["tests"] for f in t["metadata"].get("findings", [])
                    if f["severity"] != "INFO"))


def entry(**changes: object) -> dict[str, object]:
    good = {"type": "STUCK_ORDER", "severity": "WARNING", "message": "m",
            "check": "checks/test_orders.py::test_order_purpose_set",
            "first_seen": "2025-12-31T10:00:00+00:00"}
    return {key: value for key, value in (good | changes).items() if value is not ...}


def state_with(open_entries: object, **top: object) -> Callable[[str], bytes]:
    """A state file's bytes whose open findings (keyed by a real fingerprint) are as given."""
    def made(fingerprint: str) -> bytes:
        opened = {fingerprint: open_entries} if not isinstance(open_entries, list | str) else open_entries
        return json.dumps({"version": 1, "open": opened, "error": None, **top}).encode()
    return made


BAD_STATES: dict[str, Callable[[str], bytes]] = {
    "a-list": lambda fp: b"[]",
    "a-string": lambda fp: b'"state"',
    "open-a-list": state_with([]),
    "open-a-string": state_with("fp"),
    "entry-a-string": state_with("WARNING"),
    "entry-without-severity": state_with(entry(severity=...)),
    "entry-without-check": state_with(entry(check=...)),
    "entry-severity-unknown": state_with(entry(severity="HIGH")),
    "entry-severity-a-number": state_with(entry(severity=2)),
    "entry-message-null": state_with(entry(message=None)),
    "entry-check-a-list": state_with(entry(check=["x"])),
    "error-a-number": state_with(entry(), error=5),
    "another-version": state_with(entry(), version=2),
    "nan": lambda fp: state_with(entry(), error=None)(fp).replace(b'"error": null', b'"error": NaN'),
    "nested-100k-deep": lambda fp: b"[" * 100_000 + b"]" * 100_000,
    "not-utf8": lambda fp: b'{"version": 1, "open": {}, "error": "\xff"}',
    "not-json": lambda fp: b"{",
}


@pytest.mark.parametrize("bad", list(BAD_STATES.values()), ids=list(BAD_STATES))
def test_a_state_of_the_wrong_shape_starts_afresh_and_reannounces(
    demo_report: tuple[Path, dict[str, Any]], receiver: WebhookReceiver, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], bad: Callable[[str], bytes],
) -> None:
    report, data = demo_report
    state = tmp_path / "state.json"
    state.write_bytes(bad(first_fingerprint(data)))
    for _ in range(2):  # A dry run keeps the bad file: every run warns and carries on.
        code, err = alert(capsys, report, state, "--dry-run")
        assert code == 0
        assert len(err) == 1
        assert err[0].startswith(f"tradewatch alert: ignoring unusable state file {state}: ")
    code, err = alert(capsys, report, state, "--to", receiver.url())
    assert code == 0
    assert len(err) == 1
    assert "ignoring unusable state file" in err[0]
    assert len(receiver.posts) == 1
    assert "new finding" in receiver.posts[0]["body"]["title"]
    assert first_fingerprint(data) in json.loads(state.read_text())["open"]
    code, err = alert(capsys, report, state, "--to", receiver.url())
    assert (code, err) == (0, [])  # The fresh state is whole again: later runs are quiet.
    assert len(receiver.posts) == 1


def test_a_read_only_state_directory_sends_nothing(
    demo_report: tuple[Path, dict[str, Any]], receiver: WebhookReceiver, tmp_path: Path
) -> None:
    report, _ = demo_report
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    # Root ignores mode bits; without these capabilities it is bound by them like anyone.
    as_bound = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if as_bound and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): a read-only directory cannot bind root")
    done = subprocess.run(
        [*as_bound, sys.executable, "-m", "tradewatch.cli", "alert", str(report), "--state",
         str(locked / "state.json"), "--to", receiver.url()],
        capture_output=True, text=True, cwd=CHECKOUT, timeout=120, check=False,
    )
    assert done.returncode == 64, done.stderr
    assert done.stderr.splitlines() == [
        f"tradewatch alert: cannot write the state file {locked / 'state.json'}: Permission denied"]
    assert receiver.posts == []
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("where", ["a-directory", "under-a-file"])
def test_an_unwritable_state_path_sends_nothing(
    demo_report: tuple[Path, dict[str, Any]], receiver: WebhookReceiver, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], where: str,
) -> None:
    report, _ = demo_report
    if where == "a-directory":
        state = tmp_path / "state.json"
        state.mkdir()
        said = "is a directory"
    else:
        (tmp_path / "plain-file").write_text("")
        state = tmp_path / "plain-file" / "state.json"
        said = "cannot write the state file"
    code, err = alert(capsys, report, state, "--to", receiver.url())
    assert code == 64
    assert len(err) == 1
    assert said in err[0]
    assert receiver.posts == []


class HeldReceiver:
    """A webhook that holds every request until released, so two runs can be made to overlap."""

    def __init__(self) -> None:
        self.arrived: list[bytes] = []
        self.release = threading.Event()
        arrived, release = self.arrived, self.release

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output clean."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        # rto: apprise waits for the held answer instead of giving up after 4 s.
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook?rto=120"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90  # Generous: the machine is shared.
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_two_runs_at_once_send_once(
    demo_report: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    report, _ = demo_report
    state = tmp_path / "state.json"
    held = HeldReceiver()
    runs: list[subprocess.Popen[str]] = []
    try:
        logs = [tmp_path / "first.err", tmp_path / "second.err"]

        def start(log: Path) -> subprocess.Popen[str]:
            with log.open("w") as err:
                return subprocess.Popen(
                    [sys.executable, "-m", "tradewatch.cli", "alert", str(report), "--state", str(state),
                     "--to", held.url()], stdout=subprocess.PIPE, stderr=err, text=True, cwd=CHECKOUT,
                )

        runs.append(start(logs[0]))
        wait_for(lambda: len(held.arrived) == 1, "the first run's notification")
        runs.append(start(logs[1]))
        # The second run either waits for the first (and says so) or sends a second notification.
        wait_for(lambda: "waiting for another" in logs[1].read_text() or len(held.arrived) > 1,
                 "the second run to wait or send")
        held.release.set()
        outputs = [run.communicate(timeout=120)[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
        held.close()
    assert [run.returncode for run in runs] == [0, 0], [log.read_text() for log in logs]
    assert len(held.arrived) == 1
    assert "notification(s) sent" in outputs[0]
    assert outputs[1].startswith("tradewatch alert: 0 notification(s) sent")
    assert logs[1].read_text().startswith("tradewatch alert: waiting for another tradewatch alert")


def test_the_state_is_synced_then_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    synced: list[str] = []
    replaced: list[tuple[str, str, bool]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        replaced.append((str(src), str(dst), str(src) in synced))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    alerting.save_state(state, {"version": 1, "open": {}, "error": None})
    [(scratch, target, was_synced)] = replaced
    assert (Path(target), Path(scratch).parent, was_synced) == (state, tmp_path, True)
    assert json.loads(state.read_text()) == {"version": 1, "open": {}, "error": None}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_state_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.json"
    alerting.save_state(state, {"version": 1, "open": {}, "error": "before"})
    before = state.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        alerting.save_state(state, {"version": 1, "open": {}, "error": None})
    assert state.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]


def test_a_run_that_cannot_get_the_lock_sends_nothing(
    demo_report: tuple[Path, dict[str, Any]], receiver: WebhookReceiver, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    report, _ = demo_report
    state = tmp_path / "state.json"
    monkeypatch.setattr(alerting, "LOCK_TIMEOUT_S", 0.5)
    with filelock.FileLock(str(tmp_path / "state.json.lock")):  # Another run, stuck.
        code, err = alert(capsys, report, state, "--to", receiver.url())
    assert code == 1
    assert err == [f"tradewatch alert: waiting for another tradewatch alert to finish with {state}",
                   f"tradewatch alert: another tradewatch alert held {state} for 0.5 s; nothing was sent"]
    assert receiver.posts == []
    assert not state.exists()

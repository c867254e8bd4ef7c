"""The embedded demo database: fresh per run, and always stopped and removed, even when interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_stops_and_removes_the_embedded_server(signum: int) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "checks/", "-x", "-s", "-p", "tests.slow_check_plugin",
         "-p", "no:cacheprovider", "--tradewatch-report="],
        cwd=CHECKOUT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        data_dir = _wait_until_ready(run)
        postmaster_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        run.send_signal(signum)
        output = run.communicate(timeout=60)[0]
    finally:
        run.kill()
        run.wait()
    assert run.returncode != 0, output
    assert not data_dir.exists(), output
    assert _exits_soon(postmaster_pid), f"the server (pid {postmaster_pid}) still runs"


def test_ctrl_c_while_the_run_starts_stops_and_removes_the_embedded_server(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/", "-p", "tests.startup_interrupt_plugin",
         "-p", "no:cacheprovider", f"--tradewatch-report={report}"],
        cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    [ready] = [line for line in done.stdout.splitlines() if line.startswith("READY ")]
    data_dir = Path(ready.split("READY ", 1)[1].strip())
    assert data_dir.name.startswith("tradewatch-pg-")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout[-2000:]
    assert not data_dir.exists(), done.stdout[-2000:]
    assert "Traceback" not in done.stdout + done.stderr


def _exits_soon(pid: int, seconds: float = 10) -> bool:
    """Whether a process is gone (or a zombie nobody reaps, as in containers) within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _wait_until_ready(run: subprocess.Popen[str]) -> Path:
    """Read the run's output up to the line naming the embedded server's folder."""
    assert run.stdout is not None
    for line in run.stdout:
        if "READY " in line:
            data_dir = Path(line.split("READY ", 1)[1].strip())
            assert data_dir.name.startswith("tradewatch-pg-")
            return data_dir
    raise AssertionError("the run ended before its first check started")

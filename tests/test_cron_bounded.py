"""The crontab line is bounded: a run that hangs cannot hold the lock into the next slot and skip it."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT

CRON_EXAMPLE = CHECKOUT / "deploy" / "cron.example"
SLOT_S = 300  # the schedule runs every 5 minutes
# Stand-ins for the checkout's venv: pytest per the test's mode; tradewatch logs what it was asked.
FAKE_PYTEST = """#!/bin/bash
case "$FAKE_MODE" in
  interruptible) trap 'echo interrupted > reports/tradewatch.json; exit 2' INT ;;
  deaf) trap '' INT ;;
esac
sleep 100 & wait $!
sleep 100 & wait $!
"""
FAKE_TRADEWATCH = """#!/bin/bash
echo "$1" >> reports/steps.log
if [ "$1" = alert ] && [ "$FAKE_MODE" = alert-hangs ]; then sleep 100; fi
"""


def _job() -> str:
    """The command of the crontab line (after its five schedule fields)."""
    text = CRON_EXAMPLE.read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    [job] = [line for line in lines if not line.split()[0].partition("=")[1]]
    return " ".join(job.split()[5:])


def _timeouts(command: str) -> list[tuple[float, float, str]]:
    """Each `timeout` of the command: its duration, its kill-after, and what it runs first."""
    found = []
    for match in re.finditer(r"\btimeout((?:\s+-[sk]\s+\S+)*)\s+(\d+)\s+(\S+)", command):
        options = dict(re.findall(r"-([sk])\s+(\S+)", match.group(1)))
        found.append((float(match.group(2)), float(options.get("k", 0)), match.group(3)))
    return found


def test_the_line_and_the_checks_are_bounded_within_the_slot() -> None:
    command = _job()
    bounds = _timeouts(command)
    outer = [bound for bound in bounds if bound[2] == "bash"]
    checks = [bound for bound in bounds if bound[2] == ".venv/bin/pytest"]
    assert outer, "the whole line runs under timeout, inside flock"
    assert checks, "pytest runs under a timeout of its own"
    assert command.index("flock -n") < command.index("timeout")
    assert sum(outer[0][:2]) < SLOT_S
    assert re.search(r"timeout -s INT\b", command)  # so pytest still writes its report
    deadline = re.search(r"--run-deadline=(\d+)", command)
    assert deadline is not None
    assert float(deadline.group(1)) < checks[0][0] < outer[0][0]


@pytest.mark.parametrize(("mode", "report"), [
    ("interruptible", "interrupted"), ("deaf", None), ("alert-hangs", None),
], ids=["checks-hang", "checks-ignore-interrupt", "alert-hangs"])
def test_a_hanging_step_ends_the_line(tmp_path: Path, mode: str, report: str | None) -> None:
    """The line as written, with its bounds scaled down and stand-ins for pytest and tradewatch: a hung
    step is ended, the summary and alert still run after hung checks, and the line returns."""
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    for name, script in (("pytest", FAKE_PYTEST), ("tradewatch", FAKE_TRADEWATCH)):
        (venv / name).write_text(script)
        (venv / name).chmod(0o755)
    env_file = tmp_path / "tradewatch.env"
    env_file.write_text(f"FAKE_MODE={mode}\n")
    command = (_job().replace("/opt/tradewatch", shlex.quote(str(tmp_path)))
               .replace("/etc/tradewatch.env", shlex.quote(str(env_file)))
               .replace("/tmp/tradewatch.lock", shlex.quote(str(tmp_path / "lock"))))
    # Seconds instead of minutes: the outer bound 8 s, the checks' 2 s, each with 1 s to die.
    command = re.sub(r"timeout -k \d+ \d+ bash", "timeout -k 1 8 bash", command)
    command = re.sub(r"timeout -s INT -k \d+ \d+ ", "timeout -s INT -k 1 2 ", command)
    started = time.monotonic()
    subprocess.run(["bash", "-c", command], timeout=60, check=False)
    assert time.monotonic() - started < 30
    done = (tmp_path / "reports" / "steps.log").read_text().split()
    assert done == ["summary", "alert"]
    written = tmp_path / "reports" / "tradewatch.json"
    assert (written.read_text().strip() if written.exists() else None) == report

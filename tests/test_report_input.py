"""summary, fixes and alert refuse an unreadable report the same way: exit 3, one line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHECKOUT
from tests.webhook_server import WebhookReceiver
from tradewatch import cli, report
from tradewatch.findings import jsonable


def baseline() -> dict[str, Any]:
    """The smallest report every command reads as a complete, clean run."""
    return {
        "created": time.time(),
        "duration": 1.5,
        "exitcode": 0,
        "summary": {"collected": 1},
        "tests": [{"nodeid": "checks/test_orders.py::test_order_purpose_set", "outcome": "passed",
                   "metadata": {"finding_count": 0, "findings": []}}],
        "tradewatch": {"version": "0.1.0"},
    }


def with_duration(literal: str) -> bytes:
    """The baseline report with its duration written as a bare literal, which JSON does not allow."""
    return json.dumps(baseline()).replace('"duration": 1.5', f'"duration": {literal}').encode()


def edited(change: Callable[[dict[str, Any]], object]) -> bytes:
    """The baseline report with one change, as the bytes of a file."""
    data = baseline()
    change(data)
    return json.dumps(data).encode()


def failed_with_stage(data: dict[str, Any], stage: object) -> None:
    data["tests"][0].update(outcome="failed", call=stage)


def desk_counts_as_text(data: dict[str, Any]) -> None:
    data["tradewatch"]["desk"] = {"orders": {"filled": "many"}}


# Each is bytes to write at the report path, None for no file, or "dir" for a directory there.
UNREADABLE: dict[str, tuple[bytes | str | None, str]] = {
    "missing": (None, "no report at"),
    "a-directory": ("dir", "cannot read report"),
    "not-utf8": (b'{"tradewatch": "\xff\xfe"}', "not UTF-8"),
    "not-json": (b"{not json", "is not JSON"),
    "nan": (with_duration("NaN"), "NaN is not JSON"),
    "infinity": (with_duration("Infinity"), "Infinity is not JSON"),
    "minus-infinity": (with_duration("-Infinity"), "Infinity is not JSON"),
    "number-beyond-a-double": (with_duration("1e400"), "out of range"),
    "integer-beyond-a-double": (with_duration(str(10**400)), "out of range"),
    "count-beyond-a-double": (edited(lambda r: r["tests"][0]["metadata"].update(finding_count=10**400)),
                              "out of range"),
    "integer-below-minus-a-double": (edited(lambda r: r.update(exitcode=-(10**400))), "out of range"),
    "integer-of-5000-digits": (with_duration("9" * 5000), "out of range"),
    "nested-100k-deep": (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
    "a-list": (b"[]", "is not a tradewatch checks report"),
    "a-string": (b'"report"', "is not a tradewatch checks report"),
    "tests-not-a-list": (edited(lambda r: r.update(tests={"a": 1})), "is not a tradewatch checks report"),
    "stage-not-an-object": (edited(lambda r: failed_with_stage(r, "boom")),
                            "is not a tradewatch checks report"),
    "crash-message-not-text": (edited(lambda r: failed_with_stage(r, {"outcome": "failed", "crash": {
        "message": ["boom"]}})), "is not a tradewatch checks report"),
    "created-beyond-year-9999": (edited(lambda r: r.update(created=1e300)),
                                 "is not a tradewatch checks report"),
    "desk-counts-not-numbers": (edited(desk_counts_as_text), "is not a tradewatch checks report"),
}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A JSON webhook on 127.0.0.1 that records every notification."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with WebhookReceiver() as server:
        yield server


def place(tmp_path: Path, content: bytes | str | None) -> Path:
    """Put the report's content (or a directory, or nothing) at a path."""
    path = tmp_path / "report.json"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_the_baseline_is_a_clean_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], receiver: WebhookReceiver
) -> None:
    path = place(tmp_path, json.dumps(baseline()).encode())
    assert report.validation_errors(baseline()) == []
    assert run(capsys, "summary", str(path))[0] == 0
    assert run(capsys, "fixes", str(path))[0] == 0
    state = tmp_path / "s.json"
    assert run(capsys, "alert", str(path), "--state", str(state), "--to", receiver.url())[0] == 0


@pytest.mark.parametrize(("content", "said"), list(UNREADABLE.values()), ids=list(UNREADABLE))
@pytest.mark.parametrize("summary_format", ["v1", "v2"])
def test_summary_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str | None, said: str,
    summary_format: str,
) -> None:
    code, out, err = run(capsys, "summary", str(place(tmp_path, content)), "--format", summary_format)
    assert code == 3
    printed = json.loads(out)
    assert printed["status"] == "ERROR"
    assert said in printed["error"]
    assert len(err) == 1
    assert err[0].startswith("tradewatch summary: ERROR: ")
    assert said in err[0]


@pytest.mark.parametrize(("content", "said"), list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_fixes_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str | None, said: str
) -> None:
    code, out, err = run(capsys, "fixes", str(place(tmp_path, content)))
    assert (code, out) == (3, "")
    assert len(err) == 1
    assert said in err[0]


@pytest.mark.parametrize(("content", "said"), list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_alert_announces_it_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], receiver: WebhookReceiver,
    content: bytes | str | None, said: str,
) -> None:
    path = place(tmp_path, content)
    state = tmp_path / "s.json"
    code, _, err = run(capsys, "alert", str(path), "--state", str(state), "--to", receiver.url())
    assert code == 3
    assert len(err) == 1
    assert err[0].startswith("tradewatch alert: ERROR: ")
    assert said in err[0]
    [post] = receiver.posts
    assert "could not all run" in post["body"]["title"]
    assert said in post["body"]["message"]


@pytest.mark.parametrize(("content", "said"), list(UNREADABLE.values()), ids=list(UNREADABLE))
@pytest.mark.parametrize("command", ["html", "metrics"])
def test_html_and_metrics_refuse_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str | None, said: str, command: str
) -> None:
    page = tmp_path / "out"
    code, out, err = run(capsys, command, str(place(tmp_path, content)), "-o", str(page))
    assert (code, out) == (3, "")
    assert len(err) == 1
    assert said in err[0]
    assert not page.exists()


def test_integers_a_double_holds_stay_exact() -> None:
    """A bigint key past 2**53 is read exactly; the bound is a double's largest value, inclusive."""
    assert report.parse_strict(b"[9223372036854775807, -9223372036854775808]") == [2**63 - 1, -(2**63)]
    largest = int(sys.float_info.max)
    assert report.parse_strict(str(largest).encode()) == largest
    with pytest.raises(ValueError, match="out of range"):
        report.parse_strict(str(largest + 1).encode())


def test_numbers_no_double_holds_are_written_as_text() -> None:
    """A stored number past a double's range reaches the report as its text, which every reader reads."""
    largest = int(sys.float_info.max)
    values = [Decimal("1.5e400"), Decimal("-1.5e400"), 10**400, Decimal(largest + 1), Decimal(largest),
              Decimal("2.5")]
    written = report.parse_strict(json.dumps(jsonable(values)).encode())
    assert written == ["1.5E+400", "-1.5E+400", str(10**400), str(largest + 1), largest, 2.5]


def test_a_deep_report_leaves_no_traceback_from_the_console_script(tmp_path: Path) -> None:
    path = place(tmp_path, UNREADABLE["nested-100k-deep"][0])
    for command in (["summary"], ["fixes"], ["alert", "--dry-run", "--state", str(tmp_path / "s.json")]):
        done = subprocess.run(
            [sys.executable, "-m", "tradewatch.cli", command[0], str(path), *command[1:]],
            capture_output=True, text=True, cwd=CHECKOUT, timeout=120, check=False,
        )
        assert done.returncode == 3, done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "nested deeper than" in done.stderr

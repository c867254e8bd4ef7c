"""tradewatch alert: new findings once, quiet while ongoing, resolutions once, never a secret."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunChecks
from tests.pg import run_sql, run_sql_file
from tests.webhook_server import WebhookReceiver
from tradewatch import alerting, cli, demo
from tradewatch.text import has_unsafe


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A JSON webhook on 127.0.0.1 that records every notification."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # A proxy must not carry loopback posts.
    monkeypatch.delenv("TRADEWATCH_ALERT_URLS", raising=False)
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def alert(report: Path, state: Path, *args: str) -> int:
    """Run `tradewatch alert` on a report with a state file."""
    return cli.main(["alert", str(report), "--state", str(state), *args])


def checks(
    run_checks: RunChecks, url: str, tmp_path: Path, name: str, *args: str
) -> tuple[Path, dict[str, Any]]:
    """Run the checks and keep the report under its own name (the next run overwrites report.json)."""
    _, data = run_checks(url, "-m", "not broker", *args)
    kept = tmp_path / f"{name}.json"
    shutil.copy(tmp_path / "report.json", kept)
    return kept, data


def failing_fingerprints(data: dict[str, Any], floor: str = "WARNING") -> set[str]:
    """Fingerprints of the findings at or above a severity."""
    return {
        f["fingerprint"] for test in data["tests"] for f in test["metadata"].get("findings", [])
        if alerting.RANK[f["severity"]] >= alerting.RANK[floor]
    }


def messages(data: dict[str, Any], severity: str) -> list[str]:
    return [f["message"] for test in data["tests"] for f in test["metadata"].get("findings", [])
            if f["severity"] == severity]


def test_new_once_then_quiet_then_resolved(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first, data = checks(run_checks, demo_db, tmp_path, "first")

    assert alert(first, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 1
    post = receiver.posts[0]["body"]
    assert post["type"] == "failure"
    assert "CRITICAL" in post["title"]
    assert "new finding" in post["title"]
    for text in messages(data, "CRITICAL") + messages(data, "WARNING"):
        assert text in post["message"]
    for text in messages(data, "INFO"):
        assert text not in post["message"]  # Below --min-severity WARNING.
    assert set(json.loads(state.read_text())["open"]) == failing_fingerprints(data)

    assert alert(first, state, "--to", receiver.url()) == 0
    second, _ = checks(run_checks, demo_db, tmp_path, "second")
    assert alert(second, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 1  # Ongoing findings stay quiet, across real runs too.

    wrong_side = next(f for t in data["tests"] for f in t["metadata"].get("findings", [])
                      if f["type"] == "WRONG_ORDER_SIDE")
    run_sql(demo_db, wrong_side["fix"])
    third, _ = checks(run_checks, demo_db, tmp_path, "third")
    assert alert(third, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 2
    post = receiver.posts[1]["body"]
    assert post["type"] == "success"
    assert "1 finding(s) resolved" in post["title"]
    assert f"resolved WRONG_ORDER_SIDE: {wrong_side['message']}" in post["message"]
    assert wrong_side["fingerprint"] not in json.loads(state.read_text())["open"]

    assert alert(third, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 2


def test_a_report_with_errors_resolves_nothing(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first, _data = checks(run_checks, demo_db, tmp_path, "first")
    assert alert(first, state, "--to", receiver.url()) == 0
    opened = set(json.loads(state.read_text())["open"])

    run_sql(demo_db, "DROP TABLE orders CASCADE")  # The order checks can no longer look.
    broken, _ = checks(run_checks, demo_db, tmp_path, "broken")
    assert alert(broken, state, "--to", receiver.url()) == 0
    # The schema checks find the dropped table (new findings); nothing is called resolved.
    posts = [post["body"] for post in receiver.posts[1:]]
    assert [post["type"] for post in posts if "could not all run" in post["title"]] == ["failure"]
    assert not any(post["type"] == "success" or "resolved" in post["message"] for post in posts)
    after = json.loads(state.read_text())
    assert set(after["open"]) >= opened
    assert after["error"]

    sent = len(receiver.posts)
    assert alert(broken, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == sent  # The breakage is announced once.

    assert alert(first, state, "--to", receiver.url()) == 0
    post = receiver.posts[-1]["body"]
    assert post["type"] == "success"
    assert "the checks run again" in post["message"]


def test_missing_report_is_announced_once_and_exits_3(
    receiver: WebhookReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    for _ in range(2):
        assert alert(tmp_path / "missing.json", state, "--to", receiver.url()) == 3
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1
        assert err[0].startswith("tradewatch alert: ERROR: no report at")
    assert len(receiver.posts) == 1
    assert "no report at" in receiver.posts[0]["body"]["message"]


def test_min_severity_critical(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    report, data = checks(run_checks, demo_db, tmp_path, "first")
    state = tmp_path / "state.json"
    assert alert(report, state, "--to", receiver.url(), "--min-severity", "CRITICAL") == 0
    body = receiver.posts[0]["body"]["message"]
    assert all(text in body for text in messages(data, "CRITICAL"))
    assert not any(text in body for text in messages(data, "WARNING"))
    assert set(json.loads(state.read_text())["open"]) == failing_fingerprints(data, "CRITICAL")


def test_secrets_never_reach_a_message(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKTESTKEY0123456789")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "sk-test-secret-0123456789")
    monkeypatch.setenv("DATABASE_URL", "postgresql://watch:hunter2-db-pass@db.internal:5432/catalyst")
    _, data = checks(run_checks, demo_db, tmp_path, "first")
    # A finding and a check error that quote secrets, as a careless check or driver might.
    data["tests"][0]["metadata"]["findings"][0]["message"] = (
        "key PKTESTKEY0123456789 and secret sk-test-secret-0123456789 in a message")
    data["tests"][0]["metadata"]["finding_count"] = 1
    data["tests"][0]["metadata"]["findings"][0]["severity"] = "CRITICAL"
    data["tests"][1].update(outcome="error", metadata={
        "error": "check could not run: connection to postgresql://watch:hunter2-db-pass@db.internal/x "
                 "and postgresql://other:topsecret@elsewhere/y failed"})
    report = tmp_path / "leaky.json"
    report.write_text(json.dumps(data))
    assert alert(report, tmp_path / "state.json", "--to", receiver.url()) == 0
    sent = json.dumps(receiver.posts)
    assert len(receiver.posts) == 2
    assert "***" in sent
    for secret in ("PKTESTKEY0123456789", "sk-test-secret-0123456789", "hunter2-db-pass", "topsecret"):
        assert secret not in sent


def test_failed_delivery_keeps_the_state_for_the_next_run(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # A port nothing listens on.
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    report, _ = checks(run_checks, demo_db, tmp_path, "first")
    state = tmp_path / "state.json"
    capsys.readouterr()
    assert alert(report, state, "--to", f"json://127.0.0.1:{closed}/hook") == 1
    assert "not delivered" in capsys.readouterr().err
    assert not state.exists()
    assert alert(report, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 1


def test_urls_from_the_environment(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report, _ = checks(run_checks, demo_db, tmp_path, "first")
    monkeypatch.setenv("TRADEWATCH_ALERT_URLS", f"{receiver.url('/a')} {receiver.url('/b')}")
    assert alert(report, tmp_path / "state.json") == 0
    assert sorted(post["path"] for post in receiver.posts) == ["/a", "/b"]


def test_usage_errors(
    receiver: WebhookReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 64 (EX_USAGE): neither 0 nor a code a status reader takes for WARNING or CRITICAL.
    assert alert(tmp_path / "r.json", tmp_path / "s.json") == 64
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "TRADEWATCH_ALERT_URLS" in err[0]
    assert alert(tmp_path / "r.json", tmp_path / "s.json", "--to", "nosuchscheme://tok3n-value") == 64
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "nosuchscheme://..." in err[0]
    assert "tok3n-value" not in err[0]
    assert receiver.posts == []
    assert not (tmp_path / "s.json").exists()


def test_dry_run_sends_nothing_and_keeps_no_state(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report, data = checks(run_checks, demo_db, tmp_path, "first")
    capsys.readouterr()
    assert alert(report, tmp_path / "state.json", "--dry-run") == 0
    out = capsys.readouterr().out
    assert all(text in out for text in messages(data, "CRITICAL"))
    assert receiver.posts == []
    assert not (tmp_path / "state.json").exists()


def test_escalation_is_announced_and_a_quieted_finding_is_not_resolved(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    report, data = checks(run_checks, demo_db, tmp_path, "first")
    state = tmp_path / "state.json"
    assert alert(report, state, "--to", receiver.url()) == 0
    tests = [t for t in data["tests"] if "test_no_stuck_orders" in t["nodeid"]]
    stuck = [f for t in tests for f in t["metadata"].get("findings", [])]

    stuck[0]["severity"] = "CRITICAL"  # Worse than when it was announced.
    report.write_text(json.dumps(data))
    assert alert(report, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 2
    assert receiver.posts[1]["body"]["message"] == f"CRITICAL STUCK_ORDER: {stuck[0]['message']}"

    for finding in stuck:  # After the close: INFO, below the bar, but not gone.
        finding["severity"] = "INFO"
    for test in tests:
        test["outcome"] = "passed"
    report.write_text(json.dumps(data))
    assert alert(report, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 2
    assert {f["fingerprint"] for f in stuck} <= set(json.loads(state.read_text())["open"])


def test_a_finding_back_from_acknowledgement_is_announced_again(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first, data = checks(run_checks, demo_db, tmp_path, "first")
    assert alert(first, state, "--to", receiver.url()) == 0
    purpose = next(f for t in data["tests"] for f in t["metadata"].get("findings", [])
                   if f["type"] == "ORDER_PURPOSE_MISSING")
    known = tmp_path / "known-findings.toml"
    assert cli.main(["ack", purpose["fingerprint"], "--reason", "ticket 4711", "--until", "2099-12-31",
                     "--owner", "ops", "--report", str(first), "--file", str(known)]) == 0

    held, _ = checks(run_checks, demo_db, tmp_path, "held", f"--known-findings={known}")
    assert alert(held, state, "--to", receiver.url()) == 0
    assert len(receiver.posts) == 1  # neither announced nor resolved
    assert purpose["fingerprint"] not in json.loads(state.read_text())["open"]  # a person holds it

    # Its acknowledgement lapses: it is news again.
    _, lapsed = run_checks(demo_db, "-m", "not broker", f"--known-findings={known}",
                           as_of="2100-01-04T11:00:00-05:00")
    assert lapsed["tradewatch"]["acknowledgements"]["expired"][0]["fingerprint"] == purpose["fingerprint"]
    assert alert(tmp_path / "report.json", state, "--to", receiver.url()) == 0
    announced = [post["body"] for post in receiver.posts[1:] if "new finding" in post["body"]["title"]]
    assert len(announced) == 1
    assert f"WARNING ORDER_PURPOSE_MISSING: {purpose['message']}" in announced[0]["message"].split("\n")
    assert purpose["fingerprint"] in json.loads(state.read_text())["open"]


HOSTILE = "\x1b[31mRED\x1b[0m\x0bvertical\x0cfeed\u2028separator\u2029para\x85next\u202eright-to-left\x07"


def test_titles_and_bodies_keep_every_entry_on_its_own_line(
    demo_db: str, run_checks: RunChecks, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    report, data = checks(run_checks, demo_db, tmp_path, "first")
    state = tmp_path / "state.json"
    failing = [t for t in data["tests"] if t["outcome"] == "failed"]
    finding = failing[0]["metadata"]["findings"][0]
    finding.update(severity="CRITICAL", message=f"{HOSTILE} {'long ' * 400}")
    errored = failing[1]
    errored.update(outcome="error", nodeid=f"checks/test_x.py::test_y[{HOSTILE}\nSECOND LINE]",
                   metadata={"error": f"check could not run: {HOSTILE}"})
    report.write_text(json.dumps(data))
    assert alert(report, state, "--to", receiver.url()) == 0
    titles = [post["body"]["title"] for post in receiver.posts]
    bodies = [post["body"]["message"] for post in receiver.posts]
    announced = sum(1 for t in data["tests"] for f in t["metadata"].get("findings", [])
                    if alerting.RANK[f["severity"]] >= alerting.RANK["WARNING"])
    shown_findings = min(announced, alerting.MAX_LINES) + (announced > alerting.MAX_LINES)
    assert [len(body.split("\n")) for body in bodies] == [shown_findings, 1]
    for said in titles + bodies:
        assert not has_unsafe(said.replace("\n", "")), said
    hostile_line = next(line for line in bodies[0].split("\n") if "RED" in line)
    assert hostile_line.startswith(f"CRITICAL {finding['type']}: \\x1b[31mRED\\x1b[0m\\x0bvertical")
    assert "\\u2028separator\\u2029para\\x85next\\u202eright-to-left\\x07" in hostile_line
    assert "characters)" in hostile_line  # Cut, saying how much was left out.
    assert len(hostile_line) < 700
    assert "test_y[\\x1b[31mRED" in bodies[1]
    assert "\\nSECOND LINE]" in bodies[1]

    # An entry read back from the state is shown the same way when it is resolved.
    again, rerun = checks(run_checks, demo_db, tmp_path, "again")
    passed = next(t["nodeid"] for t in rerun["tests"] if t["outcome"] == "passed")
    kept = json.loads(state.read_text())
    kept["open"]["0" * 20] = {"type": f"TYPE{HOSTILE}", "severity": "WARNING", "check": passed,
                              "message": f"gone\n{HOSTILE}", "first_seen": "2025-12-31T10:00:00+00:00"}
    state.write_text(json.dumps(kept))
    assert alert(again, state, "--to", receiver.url()) == 0
    resolved = [post["body"] for post in receiver.posts[2:] if "resolved" in post["body"]["title"]]
    assert len(resolved) == 1
    body = resolved[0]["message"]
    assert not has_unsafe(body.replace("\n", ""))
    assert "resolved TYPE\\x1b[31mRED" in body
    assert "gone\\n\\x1b[31mRED" in body

"""Alerts from a checks report: new findings once, resolutions once, through apprise."""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from tradewatch import report
from tradewatch.findings import SEVERITIES

# Higher is worse; SEVERITIES lists them worst first.
RANK: dict[str, int] = {level: len(SEVERITIES) - place for place, level in enumerate(SEVERITIES)}
STATE_VERSION = 1
MAX_LINES = 20
SECRET_VARIABLES = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "PGPASSWORD")
# user:password@ in any URL-like text (database URLs in error messages).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]+@", re.IGNORECASE)


class AlertError(Exception):
    """Alerting was asked for something it cannot do (no or unknown notification URL)."""


@dataclass(frozen=True)
class Notice:
    """One notification: a title, a body of short lines, and apprise's notify type."""

    title: str
    body: str
    kind: str  # apprise NotifyType value: info, success, warning, failure


@dataclass
class Plan:
    """What one report calls for, and the state to keep once it is delivered."""

    notices: list[Notice] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Values that must never appear in a notification: broker keys, the database password."""
    found = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    if env.get("DATABASE_URL"):
        try:
            password = conninfo.conninfo_to_dict(env["DATABASE_URL"]).get("password")
        except psycopg.ProgrammingError:  # An unparsable URL has no password to hide.
            password = None
        if password:
            found.append(str(password))
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """Text with URL passwords and every known secret value replaced by ***."""
    text = URL_PASSWORD.sub(r"\1***@", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:  # Shorter values would blank out ordinary words.
            text = text.replace(secret, "***")
    return text


def load_state(path: Path) -> dict[str, Any]:
    """The findings already announced; empty when the file is missing or unusable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": STATE_VERSION, "open": {}, "error": None}
    except (OSError, ValueError) as exc:
        # A lost state re-announces what is open: better twice than never.
        print(f"tradewatch alert: ignoring unusable state file {path}: {exc}", file=sys.stderr)
        return {"version": STATE_VERSION, "open": {}, "error": None}
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        print(f"tradewatch alert: ignoring state file {path} of an unknown version", file=sys.stderr)
        return {"version": STATE_VERSION, "open": {}, "error": None}
    return state


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write the state atomically, so an interrupted run leaves the old one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(scratch, path)


def plan(
    loaded: report.Report | None,
    state: Mapping[str, Any],
    *,
    min_severity: str = "WARNING",
    unreadable: str | None = None,
    now: datetime | None = None,
) -> Plan:
    """Compare a report (None when unreadable) with the state: what to announce, what to keep."""
    stamp = (now or datetime.now(UTC)).isoformat()
    was_open: dict[str, dict[str, Any]] = dict(state.get("open", {}))
    still_open = dict(was_open)
    errors = [unreadable] if loaded is None and unreadable else []
    announce: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []
    demo = False
    if loaded is not None:
        errors = report.problems(loaded)
        demo = bool(loaded["tradewatch"].get("demo"))
        current = {issue["fingerprint"]: issue for issue in report.issues(loaded)}
        for fingerprint, issue in current.items():
            before = was_open.get(fingerprint)
            if RANK[issue["severity"]] < RANK[min_severity]:
                continue  # Below the bar: neither announced nor, if open, resolved.
            if before is None or RANK[issue["severity"]] > RANK[before["severity"]]:
                announce.append(issue)
                still_open[fingerprint] = _entry(issue, before["first_seen"] if before else stamp)
        if not errors:
            # Only a complete run resolves, and only what its checks looked at.
            ran = report.checks_ran(loaded)
            for fingerprint, entry in was_open.items():
                if fingerprint not in current and entry.get("check") in ran:
                    resolved.append(entry)
                    del still_open[fingerprint]
    prefix = "[demo] " if demo else ""
    notices = []
    if announce:
        notices.append(_findings_notice(prefix, announce))
    if errors and not state.get("error"):
        notices.append(Notice(
            f"{prefix}tradewatch: the checks could not all run",
            _lines(errors, "reason(s)"), "failure",
        ))
    if resolved or (not errors and state.get("error")):
        notices.append(_resolved_notice(prefix, resolved, recovered=bool(state.get("error"))))
    new_state = {"version": STATE_VERSION, "open": still_open, "error": errors[0] if errors else None}
    return Plan(notices, new_state)


def _entry(issue: Mapping[str, Any], first_seen: str) -> dict[str, Any]:
    """What the state remembers of an announced finding."""
    return {key: issue[key] for key in ("type", "severity", "message", "check")} | {"first_seen": first_seen}


def _findings_notice(prefix: str, announce: list[dict[str, Any]]) -> Notice:
    """One notification listing the new (or more severe) findings, worst first."""
    announce = sorted(announce, key=lambda issue: -RANK[issue["severity"]])
    worst = announce[0]["severity"]
    lines = [f"{issue['severity']} {issue['type']}: {issue['message']}" for issue in announce]
    return Notice(
        f"{prefix}tradewatch {worst}: {len(announce)} new finding(s)",
        _lines(lines, "finding(s)"),
        "failure" if worst == "CRITICAL" else "warning" if worst == "WARNING" else "info",
    )


def _resolved_notice(prefix: str, resolved: list[dict[str, Any]], *, recovered: bool) -> Notice:
    """One notification saying what no longer shows, and that the checks run again."""
    lines = ["the checks run again"] if recovered else []
    lines += [f"resolved {entry['type']}: {entry['message']}" for entry in resolved]
    title = f"{prefix}tradewatch: {len(resolved)} finding(s) resolved" if resolved else (
        f"{prefix}tradewatch: the checks run again")
    return Notice(title, _lines(lines, "resolution(s)"), "success")


def _lines(lines: Sequence[str], what: str) -> str:
    """At most MAX_LINES one-line entries; the rest counted."""
    shown = [" ".join(line.split()) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"... and {len(lines) - MAX_LINES} more {what}: see `tradewatch summary`")
    return "\n".join(shown)


def deliver(urls: Sequence[str], notices: Sequence[Notice], secrets: Iterable[str]) -> bool:
    """Send every notice to every URL; True when all were delivered."""
    import apprise  # Imported here: only this command needs it.

    secrets = list(secrets)
    sender = apprise.Apprise()
    with warnings.catch_warnings():
        # Apprise loads its plugins on first use, some through modules Python deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        for url in urls:
            if not sender.add(url):
                # The URL itself holds tokens: name only its scheme.
                raise AlertError(f"not a notification URL apprise knows: {url.split(':', 1)[0]}://...")
    delivered = True
    for notice in notices:
        delivered &= bool(sender.notify(
            body=redact(notice.body, secrets), title=redact(notice.title, secrets),
            notify_type=apprise.NotifyType(notice.kind),
        ))
    return delivered

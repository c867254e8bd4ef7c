"""Alerts from a checks report: new findings once, resolutions once, through apprise."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import jsonschema

from tradewatch import db, report, text
from tradewatch.findings import MESSAGE_LIMIT, SEVERITIES

if TYPE_CHECKING:
    import apprise

# Higher is worse; SEVERITIES lists them worst first.
RANK: dict[str, int] = {level: len(SEVERITIES) - place for place, level in enumerate(SEVERITIES)}
STATE_VERSION = 1
MAX_LINES = 20
# How long a run waits for another to finish with the state before giving up (nothing sent).
LOCK_TIMEOUT_S = 300
SECRET_VARIABLES = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "PGPASSWORD")
# user:password@ in URL-like text (database URLs in error messages). The password runs to the
# last '@' before the next URL on the line: it may hold an unencoded '@' or a space.
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?:(?![a-z][a-z0-9+.-]*://).)*@",
                          re.IGNORECASE)
# password=value in libpq's key=value form: quoted (with \' inside), or up to the next keyword
# or the end of the line (an unquoted password may hold spaces).
KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'(?=\s|$)|.*?(?=\s+\w+\s*=|$))",
                              re.IGNORECASE | re.MULTILINE)
_ENTRY_TEXT = {"type": "string"}
# What a state file must hold; anything else is handled like a corrupt file.
STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "open", "error"],
    "properties": {
        "version": {"const": STATE_VERSION},
        "error": {"type": ["string", "null"]},
        "open": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["type", "severity", "message", "check", "first_seen"],
                "properties": {
                    "type": _ENTRY_TEXT, "severity": {"enum": list(SEVERITIES)}, "message": _ENTRY_TEXT,
                    "check": _ENTRY_TEXT, "first_seen": _ENTRY_TEXT,
                },
            },
        },
    },
}


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
        found += db.secrets(env["DATABASE_URL"])
    return found


def redact(said: str, secrets: Iterable[str]) -> str:
    """Text with URL and key=value passwords and every known secret value replaced by ***."""
    said = URL_PASSWORD.sub(r"\1***@", said)
    said = KEYWORD_PASSWORD.sub(r"\1***", said)
    return text.redacted(said, secrets)


def _fresh_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "open": {}, "error": None}


def load_state(path: Path) -> dict[str, Any]:
    """The findings already announced; empty, with one warning, when the file is unusable."""
    try:
        state = report.parse_strict(path.read_bytes())
        jsonschema.validate(state, STATE_SCHEMA)
    except FileNotFoundError:
        return _fresh_state()
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    except ValueError as exc:
        problem = f"not JSON: {exc}"
    except jsonschema.ValidationError as exc:
        problem = f"not a state of this version: {exc.json_path}: {exc.message}"
    else:
        loaded: dict[str, Any] = state
        return loaded
    # A lost state re-announces what is open: better twice than never.
    print(text.one_line(f"tradewatch alert: ignoring unusable state file {text.shown(path)}: "
                        f"{text.shown(problem)}", 500), file=sys.stderr)
    return _fresh_state()


def check_writable(path: Path) -> None:
    """Raise AlertError unless the state can be written at path (its folder is made if missing)."""
    try:
        if path.is_dir():
            raise AlertError(f"the state path {text.shown(path)} is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written as save_state writes: a new file beside the state, then replaced.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise AlertError(f"cannot write the state file {text.shown(path)}: "
                         f"{exc.strerror or type(exc).__name__}") from None


@contextmanager
def state_lock(path: Path, on_wait: Callable[[], object]) -> Iterator[None]:
    """Hold the state's lock (path.lock) so one run at a time loads, plans, sends and saves."""
    lock = filelock.FileLock(str(path.with_name(path.name + ".lock")))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        on_wait()
        try:
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        except filelock.Timeout:
            raise AlertError(f"another tradewatch alert held {text.shown(path)} for "
                             f"{LOCK_TIMEOUT_S} s") from None
    try:
        yield
    finally:
        lock.release()


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write the state atomically (a synced file beside it, then renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(state, indent=2, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


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
            if issue.get("acknowledged"):
                # A person holds it now: no longer open here, so it is announced again should it
                # come back (its details changed, its acknowledgement expired). Not a resolution.
                still_open.pop(fingerprint, None)
                continue
            before = was_open.get(fingerprint)
            if RANK[issue["severity"]] < RANK[min_severity]:
                # Below the bar: neither announced nor, if open, resolved.
                continue
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
        notices.append(_notice(
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
    lines = [f"{text.shown(issue['severity'])} {text.shown(issue['type'])}: "
             f"{text.shown(issue['message'], MESSAGE_LIMIT)}" for issue in announce]
    return _notice(
        f"{prefix}tradewatch {worst}: {len(announce)} new finding(s)",
        _lines(lines, "finding(s)"),
        "failure" if worst == "CRITICAL" else "warning" if worst == "WARNING" else "info",
    )


def _resolved_notice(prefix: str, resolved: list[dict[str, Any]], *, recovered: bool) -> Notice:
    """One notification saying what no longer shows, and that the checks run again."""
    lines = ["the checks run again"] if recovered else []
    lines += [f"resolved {text.shown(entry['type'])}: {text.shown(entry['message'], MESSAGE_LIMIT)}"
              for entry in resolved]
    title = f"{prefix}tradewatch: {len(resolved)} finding(s) resolved" if resolved else (
        f"{prefix}tradewatch: the checks run again")
    return _notice(title, _lines(lines, "resolution(s)"), "success")


def _notice(title: str, body: str, kind: str) -> Notice:
    """A notice whose title is one line of shown text."""
    return Notice(text.shown(title), body, kind)


def _lines(lines: Sequence[str], what: str) -> str:
    """At most MAX_LINES entries, each kept on its one line (unsafe characters escaped); the rest counted."""
    # Each entry's values are cut already; the bound here only guards the line as a whole.
    shown = [text.one_line(" ".join(line.split()), 2 * MESSAGE_LIMIT) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"... and {len(lines) - MAX_LINES} more {what}: see `tradewatch summary`")
    return "\n".join(shown)


def sender(urls: Sequence[str]) -> apprise.Apprise:
    """An apprise sender for the URLs; AlertError when there is none or apprise knows one not."""
    import apprise  # Imported here: only this command needs it.

    if not urls:
        raise AlertError("no notification URL")
    chosen = apprise.Apprise()
    with warnings.catch_warnings():
        # Apprise loads its plugins on first use, some through modules Python deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        for url in urls:
            if not chosen.add(url):
                # The URL itself holds tokens: name only its scheme.
                scheme = text.shown(url.split(":", 1)[0], 40)
                raise AlertError(f"not a notification URL apprise knows: {scheme}://...")
    return chosen


def deliver(to: apprise.Apprise, notices: Sequence[Notice], secrets: Iterable[str]) -> bool:
    """Send every notice through the sender; True when all were delivered."""
    import apprise

    secrets = list(secrets)
    delivered = True
    for notice in notices:
        delivered &= bool(to.notify(
            body=redact(notice.body, secrets), title=redact(notice.title, secrets),
            notify_type=apprise.NotifyType(notice.kind),
        ))
    return delivered

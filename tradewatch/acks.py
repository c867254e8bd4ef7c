"""Acknowledged findings: a reviewed file of fingerprints a person tolerates, each with a reason, an owner
and an expiry. An acknowledged finding does not fail its check and is not alerted, until it expires or
what it observed changes."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import tomli_w

from tradewatch import text
from tradewatch.files import write_atomically

FINGERPRINT = re.compile(r"^[0-9a-f]{20}$")
HEADER = (
    "# Findings a person has acknowledged: each does not fail its check and is not alerted until\n"
    "# 'until' passes or what it observed ('state') changes. Add with `tradewatch ack`; review as code.\n"
)


class AckError(ValueError):
    """The file of acknowledged findings cannot be read, or an entry in it is not whole."""


@dataclass(frozen=True)
class Ack:
    """One acknowledged finding."""

    fingerprint: str
    reason: str
    owner: str
    until: date
    state: str
    type: str = ""
    message: str = ""
    # The check that found it (empty in entries written before they were recorded): only that
    # check, having looked, can say the finding is gone.
    rule: str = ""
    case: str = ""

    def covers(self, state: str | None, day: date) -> bool:
        """Whether the acknowledgement holds for a finding observed so, on the (trading) day."""
        return state == self.state and day <= self.until

    def describe(self) -> dict[str, str]:
        """What the report says of it."""
        return {"fingerprint": self.fingerprint, "reason": self.reason, "owner": self.owner,
                "until": self.until.isoformat(), "type": self.type}


def load(path: Path) -> dict[str, Ack]:
    """The acknowledgements by fingerprint; none when the file does not exist. Every problem is an
    AckError naming the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AckError(f"cannot read {path}: {text.one_line(str(exc), 200)}") from None
    entries = data.get("finding", [])
    if not isinstance(entries, list) or set(data) - {"finding"}:
        raise AckError(f"{path}: expected only [[finding]] entries")
    acks: dict[str, Ack] = {}
    for number, entry in enumerate(entries, start=1):
        ack = _entry(entry, f"{path}: finding {number}")
        if ack.fingerprint in acks:
            raise AckError(f"{path}: finding {number}: fingerprint {ack.fingerprint} is acknowledged twice")
        acks[ack.fingerprint] = ack
    return acks


def _entry(entry: Any, where: str) -> Ack:
    if not isinstance(entry, Mapping):
        raise AckError(f"{where}: not a table")
    for name in ("fingerprint", "reason", "owner", "state"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise AckError(f"{where}: {name} is missing or empty")
    if not FINGERPRINT.match(entry["fingerprint"]):
        raise AckError(f"{where}: fingerprint {text.shown(entry['fingerprint'], 40)!r} is not a finding's")
    until = entry.get("until")
    if not isinstance(until, date) or isinstance(until, datetime):
        raise AckError(f"{where}: until must be a date like 2026-01-31")
    return Ack(entry["fingerprint"], entry["reason"], entry["owner"], until, entry["state"],
               str(entry.get("type", "")), str(entry.get("message", "")), str(entry.get("rule", "")),
               str(entry.get("case", "")))


def add(path: Path, finding: Mapping[str, Any], reason: str, owner: str, until: date) -> Ack:
    """Acknowledge a report's finding (its fingerprint, type, message, state, rule and case) in the file."""
    acks = load(path)
    fingerprint = str(finding["fingerprint"])
    ack = Ack(fingerprint, reason, owner, until, str(finding["state"]), str(finding["type"]),
              text.one_line(str(finding["message"]), 200), str(finding.get("rule") or ""),
              str(finding.get("case") or ""))
    acks[fingerprint] = ack
    write_atomically(path, HEADER + tomli_w.dumps({"finding": [_table(item) for item in acks.values()]}))
    return ack


def _table(ack: Ack) -> dict[str, Any]:
    """An entry as the file holds it; rule and case only when known (TOML has no null)."""
    table: dict[str, Any] = {"fingerprint": ack.fingerprint, "type": ack.type}
    if ack.rule:
        table["rule"] = ack.rule
    if ack.case:
        table["case"] = ack.case
    return table | {"message": ack.message, "reason": ack.reason, "owner": ack.owner, "until": ack.until,
                    "state": ack.state}

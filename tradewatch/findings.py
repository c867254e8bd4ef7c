"""The finding: one violation of one invariant, as alerting receives it."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from tradewatch import text
from tradewatch.fixes import FixData, statement

Severity = Literal["CRITICAL", "WARNING", "INFO"]
SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "WARNING", "INFO")

# Entity keys a finding may carry, under the contract's names whatever the layout calls them.
ENTITY_KEYS = ("order_id", "position_id", "alpaca_order_id", "alpaca_client_order_id", "symbol",
               "cycle_id", "table", "column")
# The longest message a finding carries; the values it quotes are kept whole in its details.
MESSAGE_LIMIT = 500


DOUBLE_MAX = Decimal(sys.float_info.max)


def _fits_a_double(value: Decimal | int) -> bool:
    """Whether a number is finite and within a double's range (compared exactly, never rounded)."""
    if isinstance(value, int):
        return abs(value) <= int(sys.float_info.max)
    return value.is_finite() and value.copy_abs() <= DOUBLE_MAX


def jsonable(value: Any) -> Any:
    """Database values as strict JSON values: NaN and Infinity as text, bytes as escaped text."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool) and not _fits_a_double(value):
        # A number no reader's double can hold (a report reader refuses it): its text, like NaN.
        return str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        # Lone surrogates (from text that was not UTF-8) cannot be written as UTF-8 JSON.
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Any other type a column may hold (uuid, inet, interval, a range): its text.
    return str(value)


@dataclass(frozen=True)
class Finding:
    """One violation: what, how bad, of which entity, and what could fix it."""

    type: str
    severity: Severity
    keys: Mapping[str, Any]
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    fix_data: FixData | None = None
    rule: str | None = None
    severity_default: Severity | None = None
    # A digest of what it observed (its details but the ones that change every run): an
    # acknowledgement holds only while this stays the same.
    state: str | None = None
    # Set when a person acknowledged it (reason, owner, until): it then fails nothing.
    acknowledged: Mapping[str, str] | None = None
    # What it is about where no entity key says (the limit a risk finding names): fingerprinted.
    subject: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.keys) - set(ENTITY_KEYS)
        if unknown:
            raise ValueError(f"finding keys must be among {ENTITY_KEYS}, got {sorted(unknown)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def fingerprint(self) -> str:
        """Stable across runs: the type and the entity keys, nothing observed."""
        about = [self.subject] if self.subject is not None else []
        canonical = json.dumps([self.type, jsonable(dict(self.keys)), *about], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    @property
    def fix(self) -> str | None:
        """The fix as a reviewable statement, built from its data; None where a person decides."""
        return statement(self.fix_data) if self.fix_data is not None else None

    @property
    def fails(self) -> bool:
        """INFO and acknowledged findings are reported but do not fail a check."""
        return self.severity != "INFO" and self.acknowledged is None

    def to_json(self) -> dict[str, Any]:
        """The finding as the JSON report carries it."""
        return {
            "type": self.type,
            "severity": self.severity,
            "severity_default": self.severity_default or self.severity,
            "rule": self.rule,
            **{key: jsonable(value) for key, value in self.keys.items()},
            "message": text.one_line(self.message, MESSAGE_LIMIT),
            "details": jsonable(dict(self.details)),
            "fix": self.fix,
            "fix_data": jsonable(self.fix_data.to_json()) if self.fix_data else None,
            "fingerprint": self.fingerprint,
            **({"state": self.state} if self.state else {}),
            **({"acknowledged": dict(self.acknowledged)} if self.acknowledged else {}),
        }

    def one_line(self) -> str:
        """How the finding reads in pytest's failure message."""
        return f"{self.severity} {self.type}: {text.one_line(self.message, MESSAGE_LIMIT)}"


def state_of(details: Mapping[str, Any], volatile: Iterable[str] = ()) -> str:
    """A digest of what a finding observed, its volatile details (minutes waited) left out."""
    kept = {key: value for key, value in details.items() if key not in set(volatile)}
    return hashlib.sha256(json.dumps(jsonable(kept), sort_keys=True).encode()).hexdigest()[:20]


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that make a check fail."""
    return [finding for finding in findings if finding.fails]

"""The finding: one violation of one invariant, as alerting receives it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["CRITICAL", "WARNING", "INFO"]
SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "WARNING", "INFO")

# Entity keys a finding may carry, named as in the database.
ENTITY_KEYS = ("order_id", "position_id", "alpaca_order_id", "symbol", "cycle_id", "table", "column")


def jsonable(value: Any) -> Any:
    """Turn database values into plain JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


@dataclass(frozen=True)
class Finding:
    """One violation: what, how bad, of which entity, and what could fix it."""

    type: str
    severity: Severity
    keys: Mapping[str, Any]
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    fix: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.keys) - set(ENTITY_KEYS)
        if unknown:
            raise ValueError(f"finding keys must be among {ENTITY_KEYS}, got {sorted(unknown)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def fingerprint(self) -> str:
        """Stable across runs: the type and the entity keys, nothing observed."""
        canonical = json.dumps([self.type, jsonable(dict(self.keys))], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    @property
    def fails(self) -> bool:
        """INFO findings are reported but do not fail a check."""
        return self.severity != "INFO"

    def to_json(self) -> dict[str, Any]:
        """The finding as the JSON report carries it."""
        return {
            "type": self.type,
            "severity": self.severity,
            **{key: jsonable(value) for key, value in self.keys.items()},
            "message": self.message,
            "details": jsonable(dict(self.details)),
            "fix": self.fix,
            "fingerprint": self.fingerprint,
        }

    def one_line(self) -> str:
        """How the finding reads in pytest's failure message."""
        return f"{self.severity} {self.type}: {self.message}"


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that make a check fail."""
    return [finding for finding in findings if finding.fails]

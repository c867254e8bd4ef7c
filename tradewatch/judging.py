"""How bad a finding is in this run: the rule's severity as set, lowered outside market hours, and
whether a person acknowledged it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

from tradewatch.acks import Ack
from tradewatch.catalogue.rule import Rule
from tradewatch.findings import Finding, state_of
from tradewatch.rule_settings import RuleSettings


class Judge:
    """Settles each finding of a run: names its rule, sets its severity, and marks it acknowledged."""

    def __init__(self, as_of: datetime, in_session: Callable[[datetime], bool],
                 rules: RuleSettings | None = None, acks: Mapping[str, Ack] | None = None) -> None:
        self.as_of = as_of
        self._in_session = in_session
        self._open: bool | None = None
        self.calendar_error: str | None = None
        self.rules = rules or RuleSettings()
        self.acks = dict(acks or {})
        # Acknowledged fingerprints this run found: held, expired, or whose state changed.
        self.held: set[str] = set()
        self.expired: set[str] = set()
        self.changed: set[str] = set()

    @property
    def asked(self) -> bool:
        """Whether the market's session has been looked up this run."""
        return self._open is not None

    @property
    def market_open(self) -> bool:
        """Whether the market is in session at as-of (asked once, on first need)."""
        if self._open is None:
            try:
                self._open = self._in_session(self.as_of)
            except Exception as exc:
                # Not knowing the hours must not quiet anything: judge as in session, and say so.
                self.calendar_error = f"{type(exc).__name__}: {exc}"
                self._open = True
        return self._open

    def settle(self, rule: Rule, finding: Finding) -> Finding:
        """The finding with its rule named, its severity as the rule's settings say (INFO when it
        measures time outside a session), and acknowledged when a person said so of this state."""
        settled = dataclasses.replace(
            finding, rule=rule.name, severity_default=finding.severity,
            severity=self.rules.severity.get(rule.name) or finding.severity,
            state=state_of(finding.details, rule.volatile),
        )
        if rule.time_based and settled.severity != "INFO" and not self.market_open:
            # After the close a quiet book is normal: report, but do not alert.
            settled = dataclasses.replace(
                settled, severity="INFO",
                details={**settled.details, "outside_market_hours": True,
                         "severity_in_session": settled.severity},
            )
        return self._acknowledged(settled)

    def _acknowledged(self, finding: Finding) -> Finding:
        if not self.acks:
            return finding  # nothing acknowledged: no fingerprint to compute
        ack = self.acks.get(finding.fingerprint)
        if ack is None:
            return finding
        if ack.covers(finding.state, self.as_of):
            self.held.add(ack.fingerprint)
            return dataclasses.replace(finding, acknowledged=ack.describe())
        (self.changed if finding.state != ack.state else self.expired).add(ack.fingerprint)
        return finding

    def describe(self, complete: bool) -> dict[str, object]:
        """The acknowledgements as the report says them; stale ones only when every rule was judged."""
        def listed(fingerprints: set[str]) -> list[dict[str, str]]:
            return [self.acks[fingerprint].describe() for fingerprint in sorted(fingerprints)]

        described: dict[str, object] = {"held": len(self.held), "expired": listed(self.expired),
                                        "changed": listed(self.changed)}
        if complete:
            described["stale"] = listed(set(self.acks) - self.held - self.expired - self.changed)
        return described

"""How bad a finding is in this run: the rule's severity as set, lowered outside market hours, and
whether a person acknowledged it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from tradewatch import catalogue
from tradewatch.acks import Ack
from tradewatch.catalogue.rule import Rule
from tradewatch.findings import Finding, state_of
from tradewatch.rule_settings import RuleSettings


class Judge:
    """Settles each finding of a run: names its rule, sets its severity, and marks it acknowledged."""

    def __init__(self, as_of: datetime, in_session: Callable[[datetime], bool],
                 rules: RuleSettings | None = None, acks: Mapping[str, Ack] | None = None,
                 zone: str = "UTC") -> None:
        self.as_of = as_of
        # An acknowledgement's 'until' is a day of the trading day's zone, however as-of was written.
        self.day = as_of.astimezone(ZoneInfo(zone)).date()
        self._in_session = in_session
        self._open: bool | None = None
        self.calendar_error: str | None = None
        self.rules = rules or RuleSettings()
        self.acks = dict(acks or {})
        # Acknowledged fingerprints this run found: held, expired, or whose state changed.
        self.held: set[str] = set()
        self.expired: set[str] = set()
        self.changed: set[str] = set()
        # Checks (rule, case) that judged all their data: only they can say a finding is gone.
        self.looked: set[tuple[str, str | None]] = set()

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

    def judged(self, rule: Rule, case: str | None) -> None:
        """Note a check that judged all its data (not one skipped, ignored, errored or not applicable)."""
        self.looked.add((rule.name, case))

    def _acknowledged(self, finding: Finding) -> Finding:
        if not self.acks:
            return finding  # nothing acknowledged: no fingerprint to compute
        ack = self.acks.get(finding.fingerprint)
        if ack is None:
            return finding
        if ack.covers(finding.state, self.day):
            self.held.add(ack.fingerprint)
            return dataclasses.replace(finding, acknowledged=ack.describe())
        (self.changed if finding.state != ack.state else self.expired).add(ack.fingerprint)
        return finding

    def describe(self, complete: bool) -> dict[str, object]:
        """The acknowledgements as the report says them; stale ones only where a complete run looked."""
        def listed(fingerprints: set[str]) -> list[dict[str, str]]:
            return [self.acks[fingerprint].describe() for fingerprint in sorted(fingerprints)]

        described: dict[str, object] = {"held": len(self.held), "expired": listed(self.expired),
                                        "changed": listed(self.changed)}
        if complete:
            unseen = set(self.acks) - self.held - self.expired - self.changed
            described["stale"] = listed({fingerprint for fingerprint in unseen
                                         if checks_of(self.acks[fingerprint]) <= self.looked})
        return described


def checks_of(ack: Ack) -> set[tuple[str, str | None]]:
    """The checks (rule, case) that could report the finding: its own, else its rule's or type's."""
    # Entries written before the rule and case were recorded name only a type, or nothing: then every
    # check that could have reported it must have looked.
    if ack.rule in catalogue.BY_NAME and ack.case:
        return {(ack.rule, ack.case)}
    rules = ([rule for rule in catalogue.RULES if rule.name == ack.rule]
             or [rule for rule in catalogue.RULES if ack.type in rule.findings] or catalogue.RULES)
    return {(rule.name, case) for rule in rules for case in rule.cases or (None,)}

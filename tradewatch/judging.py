"""How bad a finding is in this run: its rule's severity, lowered outside market hours."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from tradewatch.catalogue.rule import Rule
from tradewatch.findings import Finding


class Judge:
    """Settles each finding of a run: names its rule and adjusts its severity where the run says so."""

    def __init__(self, as_of: datetime, in_session: Callable[[datetime], bool]) -> None:
        self.as_of = as_of
        self._in_session = in_session
        self._open: bool | None = None
        self.calendar_error: str | None = None

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
        """The finding with its rule named, and INFO when it measures time outside a session."""
        settled = dataclasses.replace(finding, rule=rule.name, severity_default=finding.severity)
        if rule.time_based and settled.severity != "INFO" and not self.market_open:
            # After the close a quiet book is normal: report, but do not alert.
            settled = dataclasses.replace(
                settled, severity="INFO",
                details={**settled.details, "outside_market_hours": True,
                         "severity_in_session": settled.severity},
            )
        return settled

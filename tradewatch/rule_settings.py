"""Per-rule settings, as dbt sets severity per test: a severity raised, lowered or ignored; thresholds."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tradewatch import settings
from tradewatch.catalogue import BY_NAME
from tradewatch.findings import SEVERITIES, Severity

IGNORE = "ignore"


class RuleSettingError(ValueError):
    """Per-rule settings that name no rule, no setting of it, or a value it cannot take."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RuleSettings:
    """What pytest.ini sets per rule: a severity (or ignore) and thresholds, by rule name."""

    severity: Mapping[str, Severity | None] = field(default_factory=dict)  # None: ignored
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def ignored(self, rule: str) -> bool:
        """Whether the rule is set to ignore."""
        return rule in self.severity and self.severity[rule] is None

    def describe(self, run_wide: Mapping[str, object]) -> dict[str, dict[str, object]]:
        """The settings as the report's metadata records them, each with what it replaced under
        'default': the rule's own severity, the run's threshold (run_wide: setting -> value)."""
        described: dict[str, dict[str, object]] = {}
        defaults: dict[str, dict[str, object]] = {}
        for rule, level in self.severity.items():
            described.setdefault(rule, {})["severity"] = level or IGNORE
            defaults.setdefault(rule, {})["severity"] = BY_NAME[rule].severity
        for rule, values in self.thresholds.items():
            described.setdefault(rule, {}).update(values)
            defaults.setdefault(rule, {}).update({name: run_wide[name] for name in values})
        return {rule: {**entry, "default": defaults[rule]} for rule, entry in described.items()}


def parse(lines: Iterable[str]) -> RuleSettings:
    """Lines 'RULE: severity=CRITICAL stuck_order_minutes=10' (or severity=ignore), checked against the
    catalogue: every problem is one line."""
    severity: dict[str, Severity | None] = {}
    thresholds: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    for line in lines:
        name, colon, rest = (part.strip() for part in line.partition(":"))
        rule = BY_NAME.get(name)
        if not colon:
            problems.append(f"{line.strip()}: expected RULE: KEY=VALUE ...")
            continue
        if rule is None:
            near = difflib.get_close_matches(name, BY_NAME, n=1)
            hint = f"did you mean {near[0]}?" if near else "rules are named in the README's checks table"
            problems.append(f"{name}: no such rule; {hint}")
            continue
        for pair in rest.split():
            key, equals, value = pair.partition("=")
            if not equals or not value:
                problems.append(f"{name}: {pair!r} is not KEY=VALUE")
            elif key == "severity":
                level = value.upper()
                if value.lower() == IGNORE:
                    severity[name] = None
                elif level in SEVERITIES:
                    severity[name] = level
                else:
                    problems.append(
                        f"{name}: severity {value!r} is not one of {', '.join(SEVERITIES)}, ignore")
            elif key in rule.thresholds:
                # Read as the run-wide setting of that name is: a rule's own value is held to the same terms.
                try:
                    thresholds.setdefault(name, {})[key] = float(settings.BY_NAME[key].parse(value))
                except settings.SettingError as exc:
                    problems.append(f"{name}: {key}: {exc}")
            else:
                allowed = ", ".join(("severity", *rule.thresholds))
                problems.append(f"{name}: no setting {key!r}; it takes {allowed}")
    if problems:
        raise RuleSettingError(problems)
    return RuleSettings(severity, thresholds)

"""The README's checks table, made from the catalogue so the two cannot disagree."""

from __future__ import annotations

from tradewatch.catalogue import RULES
from tradewatch.catalogue.rule import Rule


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _needs(rule: Rule) -> str:
    fields = [*rule.needs, *sorted({field for fields in rule.case_fields.values() for field in fields})]
    return ", ".join(f"`{field}`" for field in dict.fromkeys(fields)) or "—"


def markdown_table() -> str:
    """One row per rule: its check, cases, what it holds, its findings and default severity, what it reads."""
    rows = [
        "| check | cases | the rule | finding | severity | reads |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        timed = " (time-based)" if rule.time_based else ""
        rows.append("| " + " | ".join([
            f"`test_{rule.module}.py::{rule.check}`",
            _cell(rule.cases_about) or "—",
            _cell(rule.about) + timed,
            ", ".join(f"`{finding}`" for finding in rule.findings),
            rule.severity,
            _needs(rule) if rule.reads not in ("schema",) else "the catalog",
        ]) + " |")
    return "\n".join(rows)

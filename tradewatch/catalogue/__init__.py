"""The rule catalogue: every invariant declared once; tests, docs and the benchmark derive from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tradewatch.catalogue import broker, cycles, orders, positions, schema
from tradewatch.catalogue.rule import EvaluatedRule, RowRule, Rule
from tradewatch.schema_map.resolve import Gap, SchemaMap

RULES: tuple[Rule, ...] = (*schema.RULES, *orders.RULES, *positions.RULES, *cycles.RULES, *broker.RULES)
BY_NAME = {rule.name: rule for rule in RULES}
MARKER = "tradewatch_rule"
# The logical tables read row by row, in the order a run reads them.
TABLES = ("orders", "positions", "cycles")

F = TypeVar("F", bound=Callable[..., Any])


def check(name: str) -> Callable[[F], F]:
    """Make a test the check of a catalogue rule, parametrized over the rule's cases."""
    rule = BY_NAME[name]

    def mark(function: F) -> F:
        marked = pytest.mark.tradewatch_rule(name)(function)
        if rule.cases:
            marked = pytest.mark.parametrize("case", rule.cases)(marked)
        return marked  # type: ignore[no-any-return]

    return mark


def gaps(rule: Rule, case: str | None, smap: SchemaMap) -> list[Gap]:
    """Why a rule (for one case) cannot be judged on this layout: blocking gaps first; empty when it can."""
    if rule.broker and (other := broker.alpaca(smap)) is not None:
        # Another broker's desk: no Alpaca reconciliation at all, whatever its tables hold.
        return [Gap(other)]
    # A rule on a table reads it: its key first, so a layout without the table says so.
    own = (f"{rule.reads}.id",) if rule.reads in TABLES else ()
    found = smap.gaps((*own, *rule.needs, *rule.case_fields.get(case or "", ())))
    found += [gap for gap in smap.gaps(rule.uses) if gap.blocks and gap not in found]
    if rule.requires is not None:
        reason = rule.requires(smap)
        if reason is not None:
            found.append(Gap(reason))
    for column, meaning in rule.case_values.get(case or "", ()):
        if smap.has(column) and not smap.vocabulary.has(column, meaning):
            found.append(Gap(f"the {smap.profile.name} layout has no {column} meaning {meaning!r}"))
    if rule.cases and all(smap.gaps(rule.case_fields.get(c, ())) for c in rule.cases):
        found.append(Gap(f"the {smap.profile.name} layout has none of the fields its cases read"))
    return sorted(found, key=lambda gap: not gap.blocks)  # stable: each kind keeps its order


def row_rules(entity: str, smap: SchemaMap) -> list[RowRule]:
    """The rules judged on a table's read that this layout supports (some case at least)."""
    return [rule for rule in RULES
            if isinstance(rule, RowRule) and rule.reads == entity
            and (not gaps(rule, None, smap) if not rule.cases
                 else any(not gaps(rule, case, smap) for case in rule.cases))]


__all__ = [
    "BY_NAME",
    "MARKER",
    "RULES",
    "TABLES",
    "EvaluatedRule",
    "RowRule",
    "Rule",
    "check",
    "gaps",
    "row_rules",
]

"""The catalogue is the one declaration: the checks, the README's table and the fields all come from it."""

from __future__ import annotations

import pytest

from tests.conftest import CHECKOUT, CHECKS_DIR, QUICK_RUN
from tradewatch import catalogue, settings
from tradewatch.catalogue.docs import markdown_table
from tradewatch.findings import SEVERITIES
from tradewatch.schema_map.model import FIELD_NAMES


def test_readme_shows_the_catalogue() -> None:
    assert markdown_table() in (CHECKOUT / "README.md").read_text()


def test_the_checks_are_the_catalogues(pytester: pytest.Pytester) -> None:
    """Every rule has its check, parametrized over its cases; every check is a rule's."""
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), "--collect-only", "-q", *QUICK_RUN, "--tradewatch-report=",
    )
    collected = {line.removeprefix("checks/") for line in result.outlines if line.startswith("checks/")}
    declared = {nodeid for rule in catalogue.RULES for nodeid in rule.nodeids}
    assert collected == declared
    # Collection never touched a database: no run started.
    assert "tradewatch:" not in result.stdout.str()


@pytest.mark.parametrize("rule", catalogue.RULES, ids=lambda rule: rule.name)
def test_each_rule_is_whole(rule: catalogue.Rule) -> None:
    assert catalogue.BY_NAME[rule.name] is rule
    assert rule.severity in SEVERITIES
    assert rule.findings
    assert all(finding.isupper() for finding in rule.findings)
    fields = {*rule.needs, *(field for fields in rule.case_fields.values() for field in fields)}
    assert fields <= FIELD_NAMES, fields - FIELD_NAMES
    assert set(rule.case_fields) <= set(rule.cases)
    assert set(rule.case_values) <= set(rule.cases)
    if isinstance(rule, catalogue.RowRule):
        assert rule.reads in catalogue.TABLES
        assert rule.predicate is not None
        assert rule.finding is not None
        assert (rule.case_of is not None or rule.cases_of is not None) == bool(rule.cases)
    else:
        assert isinstance(rule, catalogue.EvaluatedRule)
        assert rule.evaluate is not None
    for setting in (*rule.thresholds, *rule.case_settings.values()):
        assert setting in {spec.name for spec in settings.SPECS}

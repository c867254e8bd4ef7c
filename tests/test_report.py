"""Real checks reports conform to the shipped JSON Schema, and the schema rejects broken ones."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from tests.conftest import CHECKOUT, RunChecks
from tests.pg import run_sql_file
from tradewatch import demo, report


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(report.schema())


def test_schema_ships_as_package_data() -> None:
    assert files("tradewatch").joinpath("schemas/report.schema.json").is_file()
    pyproject = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    assert "schemas/*.json" in pyproject["tool"]["setuptools"]["package-data"]["tradewatch"]


def test_clean_report_conforms(seeded_db: Any, run_checks: RunChecks) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker")
    assert report.validation_errors(data) == []
    meta = data["tradewatch"]
    assert meta["demo"] is False
    assert meta["as_of"] == "2025-12-31T11:00:00-05:00"
    assert set(meta["database"]) == {"host", "name", "server_version"}
    ran = [test for test in data["tests"] if test["outcome"] in ("passed", "failed")]
    assert ran
    assert all("finding_count" in test["metadata"] for test in ran)
    skipped = [test for test in data["tests"] if test["outcome"] == "skipped"]
    assert all(test["metadata"]["not_applicable"] for test in skipped)


def test_failing_report_conforms(demo_db: str, run_checks: RunChecks) -> None:
    _, data = run_checks(demo_db, "-m", "not broker")
    assert report.validation_errors(data) == []
    found = report.issues(data)
    assert {"CRITICAL", "WARNING", "INFO"} <= {issue["severity"] for issue in found}
    assert any(issue["fix"] for issue in found)
    assert any(issue["fix"] is None for issue in found)
    for test in data["tests"]:
        meta = test["metadata"]
        if "not_applicable" not in meta:
            assert meta["finding_count"] >= len(meta["findings"])


def test_capped_report_conforms(demo_db: str, run_checks: RunChecks) -> None:
    # Stale P&L on a Saturday: more findings in one check than the cap lets through.
    _, data = run_checks(demo_db, "-m", "not broker", "-k", "pnl", "--findings-cap=1",
                         as_of="2026-01-03T11:00:00-05:00")
    assert report.validation_errors(data) == []
    assert report.omitted(data) > 0


def test_errored_report_conforms(seeded_db: Any, run_checks: RunChecks) -> None:
    url = seeded_db("clean", "cycles_table_dropped")
    _, data = run_checks(url, "-m", "not broker")
    assert report.validation_errors(data) == []
    errored = [test for test in data["tests"] if test["outcome"] == "error"]
    assert errored
    assert all(test["metadata"]["error"] for test in errored)


def _first_finding(data: dict[str, Any]) -> dict[str, Any]:
    return next(test["metadata"]["findings"][0] for test in data["tests"] if test["metadata"].get("findings"))


BROKEN_FINDINGS: dict[str, Callable[[dict[str, Any]], object]] = {
    "lowercase-type": lambda f: f.update(type="wrong_order_side"),
    "unknown-severity": lambda f: f.update(severity="HIGH"),
    "unknown-entity-key": lambda f: f.update(account="PA123"),
    "no-fingerprint": lambda f: f.pop("fingerprint"),
    "short-fingerprint": lambda f: f.update(fingerprint="abc"),
    "two-line-message": lambda f: f.update(message="first\nsecond"),
    "fix-not-text": lambda f: f.update(fix=42),
    "details-not-object": lambda f: f.update(details="none"),
    # A key is an integer, or its text where the layout keys rows otherwise (a uuid): never more.
    "order-id-as-a-list": lambda f: f.update(order_id=[15]),
    "position-id-as-an-object": lambda f: f.update(position_id={"id": 1}),
}


def test_schema_rejects_broken_findings(demo_db: str, run_checks: RunChecks) -> None:
    _, data = run_checks(demo_db, "-m", "not broker", "-k", "take_profit")
    assert report.validation_errors(data) == []
    accepted = []
    for name, breakage in BROKEN_FINDINGS.items():
        broken = copy.deepcopy(data)
        breakage(_first_finding(broken))
        if not report.validation_errors(broken):
            accepted.append(name)
    assert accepted == [], "the schema accepts broken findings"


BROKEN_REPORTS: dict[str, Callable[[dict[str, Any]], object]] = {
    "no-tradewatch-key": lambda r: r.pop("tradewatch"),
    "no-version": lambda r: r["tradewatch"].pop("version"),
    "database-without-as-of": lambda r: r["tradewatch"].pop("as_of"),
    "demo-not-boolean": lambda r: r["tradewatch"].update(demo="yes"),
    "broker-without-mode": lambda r: r["tradewatch"].update(broker={}),
    "findings-without-count": lambda r: r["tests"][0]["metadata"].pop("finding_count"),
    "error-and-findings": lambda r: r["tests"][0]["metadata"].update(error="boom"),
    "desk-not-object": lambda r: r["tradewatch"].update(desk=[1, 2]),
    "desk-count-as-text": lambda r: r["tradewatch"].update(desk={"orders": {"filled": "12"}}),
    "desk-count-negative": lambda r: r["tradewatch"].update(desk={"positions": {"open": -1}}),
    "desk-pnl-as-text": lambda r: r["tradewatch"].update(desk={"daily_pnl": "-12.5"}),
    "broker-open-orders-fractional": lambda r: r["tradewatch"].update(broker={"mode": "live",
                                                                             "open_orders": 1.5}),
    "created-beyond-year-9999": lambda r: r.update(created=1e300),
    "stage-not-object": lambda r: r["tests"][0].update(call="failed"),
    "crash-message-not-text": lambda r: r["tests"][0].update(call={"crash": {"message": 1}}),
}


def test_desk_figures_conform(seeded_db: Any, run_checks: RunChecks) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker", "-k", "legacy")
    data["tradewatch"]["desk"] = {"orders": {"filled": 3, "new": 0}, "positions": {"open": 2},
                                  "daily_pnl": 10.25}
    data["tradewatch"]["broker"] = {"mode": "live", "open_orders": 0, "open_positions": None}
    assert report.validation_errors(data) == []
    data["tradewatch"]["desk"] = {"daily_pnl": None}  # Each figure may be missing or unknown.
    assert report.validation_errors(data) == []


def test_schema_rejects_broken_reports(seeded_db: Any, run_checks: RunChecks) -> None:
    _, data = run_checks(seeded_db("clean"), "-m", "not broker", "-k", "legacy")
    assert report.validation_errors(data) == []
    accepted = []
    for name, breakage in BROKEN_REPORTS.items():
        broken = copy.deepcopy(data)
        breakage(broken)
        if not report.validation_errors(broken):
            accepted.append(name)
    assert accepted == [], "the schema accepts broken reports"

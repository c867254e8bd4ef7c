"""On a healthy desk every check passes and reports nothing that fails; the rest say why they do not apply."""

from typing import Any

from tests.conftest import RunChecks
from tests.test_checks_seeds import NOT_APPLICABLE_A


def test_every_check_passes_on_the_clean_seed(seeded_db: Any, run_checks: RunChecks) -> None:
    result, report = run_checks(seeded_db("clean"), "-m", "not broker")
    outcomes = result.parseoutcomes()
    # Every database check ran and passed, but those the layout cannot judge: none failed or errored.
    assert set(outcomes) == {"passed", "skipped", "deselected"}
    skipped = {test["nodeid"].removeprefix("checks/") for test in report["tests"]
               if test["outcome"] == "skipped"}
    assert skipped == set(NOT_APPLICABLE_A)
    assert outcomes["passed"] == len(report["tests"]) - len(skipped) >= 25
    assert report["tradewatch"]["demo"] is False
    listed = {entry["check"].removeprefix("checks/") for entry in report["tradewatch"]["not_applicable"]}
    assert listed == skipped
    for test in report["tests"]:
        failing = [f for f in test["metadata"].get("findings", []) if f["severity"] != "INFO"]
        assert failing == [], test["nodeid"]


def test_database_checks_run_before_broker_checks(seeded_db: Any, run_checks: RunChecks) -> None:
    """A slow or hung broker never holds back the database's checks: those run first, though
    pytest would collect checks/test_broker.py before the others."""
    _, report = run_checks(seeded_db("clean"))
    order = ["test_broker.py" in test["nodeid"] for test in report["tests"]]
    assert order == sorted(order)
    assert True in order
    assert False in order

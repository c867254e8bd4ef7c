"""On a healthy desk every check passes and reports nothing that fails."""

from tests.conftest import RunChecks


def test_every_check_passes_on_the_clean_seed(seeded_db, run_checks: RunChecks) -> None:  # type: ignore[no-untyped-def]
    result, report = run_checks(seeded_db("clean"), "-m", "not broker")
    outcomes = result.parseoutcomes()
    # Every database check ran and passed: none failed, errored or was skipped.
    assert set(outcomes) == {"passed", "deselected"}
    assert outcomes["passed"] == len(report["tests"]) >= 25
    assert report["tradewatch"]["demo"] is False
    for test in report["tests"]:
        failing = [f for f in test["metadata"].get("findings", []) if f["severity"] != "INFO"]
        assert failing == [], test["nodeid"]

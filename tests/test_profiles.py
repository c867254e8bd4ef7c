"""Every later layout end to end: the real checks on its clean desk pass where they apply and say why
where they do not; each defect seed fails exactly its check; no applicable check lacks a seed."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest

from tests.conftest import RunChecks
from tests.layout_books import BOOKS, FAST, no_broker_env, serving
from tests.layout_defects import DEFECTS, Defect
from tests.layouts import LAYOUTS, Expected, assert_fix_exact, checks_in, layout_database, nodeid
from tests.pg import ScratchServer
from tradewatch import catalogue
from tradewatch.report import validation_errors
from tradewatch.schema_map import catalog
from tradewatch.schema_map.resolve import SchemaMap, resolve


def _schema_map(url: str, profile: str) -> SchemaMap:
    with psycopg.connect(url) as conn:
        return resolve(catalog.read(conn), profile, ())


@pytest.mark.parametrize("how", ["auto", "explicit"])
@pytest.mark.parametrize("profile", LAYOUTS)
def test_clean_desk_passes_every_applicable_check(
    profile: str, how: str, pg_server: ScratchServer, run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All of checks/, the broker's included: nothing fails or errors, every check that does not apply
    is skipped and listed with its reason, in the report and in the terminal."""
    layout = LAYOUTS[profile]
    url = layout_database(pg_server, layout)
    chosen = [] if how == "auto" else [f"--profile={profile}"]
    with ExitStack() as stack:
        no_broker_env(monkeypatch)
        if profile in BOOKS:
            stack.enter_context(serving(BOOKS[profile](), monkeypatch))
        result, report = run_checks(url, *chosen, *FAST, as_of=layout.as_of)
    Expected(layout).check(report)
    assert result.ret == 0
    assert validation_errors(report) == []
    described = report["tradewatch"]
    assert (described["profile"], described["schema"]["detected"]) == (profile, how == "auto")
    assert "error" not in described
    said = result.stdout.str()
    assert f"tradewatch: layout {profile} ({'detected' if how == 'auto' else 'set'})" in said
    reasons = sorted({entry["reason"] for entry in described["not_applicable"]})
    listing = said.split("check(s) not applicable to this layout:\n", 1)[1]
    shown = [line.strip() for line in listing.splitlines()]
    assert f"{len(described['not_applicable'])} check(s) not applicable to this layout:" in said
    assert shown[:len(reasons)] == reasons


DEFECT_CASES = [pytest.param(profile, defect, id=f"{profile}-{defect.seed}")
                for profile, defects in DEFECTS.items() for defect in defects]


@pytest.mark.parametrize(("profile", "defect"), DEFECT_CASES)
def test_defect_seed_fails_its_check_alone(
    profile: str, defect: Defect, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """The seed's check reports exactly its defect; every other check is as on the clean desk; each
    fix offered repairs just its row, with a value of the layout's vocabulary."""
    layout = LAYOUTS[profile]
    url = layout_database(pg_server, layout, defect.seed)
    result, report = run_checks(url, "-m", "not broker", as_of=layout.as_of)
    findings = {defect.check: list(defect.findings)}
    Expected(layout, failed=findings if defect.fails else {}, info={} if defect.fails else findings,
             pipeline=defect.check != nodeid("cycle_for_today")).check(report)
    assert result.ret == (1 if defect.fails else 0)
    for finding in checks_in(report)[defect.check]["metadata"]["findings"]:
        if finding["fix"] is not None:
            assert_fix_exact(url, layout.profile_of, finding)


@pytest.mark.parametrize("profile", LAYOUTS)
def test_every_applicable_check_has_a_defect_seed(profile: str, pg_server: ScratchServer) -> None:
    """The catalogue says which database checks apply to the layout: each has a seed making it fail
    (or report its INFO finding), a rule added later included; the others are the listed not
    applicable ones; and every seed file of the layout is one defect's."""
    layout = LAYOUTS[profile]
    smap = _schema_map(layout_database(pg_server, layout), profile)
    judged = {nodeid(rule.name, case): bool(catalogue.gaps(rule, case, smap))
              for rule in catalogue.RULES if not rule.broker for case in (rule.cases or (None,))}
    seeded = {defect.check for defect in DEFECTS[profile]}
    assert {check for check, lacking in judged.items() if not lacking} == seeded
    listed = {check for check in layout.expected_not_applicable() if check in judged}
    assert {check for check, lacking in judged.items() if lacking} == listed
    assert sorted(defect.seed for defect in DEFECTS[profile]) == layout.defects

"""Hostile values (quotes, semicolons, backslashes, non-ASCII) come out exact, and fixes stay on their row."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SEEDS_DIR, RunChecks
from tests.pg import ScratchServer, open_run, replay, run_sql_file
from tests.test_checks_seeds import Case, assert_fix_exact, check_run, found
from tradewatch import catalogue, fixes
from tradewatch.catalogue.rule import RowRule
from tradewatch.checkrun import CheckRun
from tradewatch.schema_map.profiles import CATALYST_2025_12

# As fixtures/seeds/hostile.sql stores them.
SYMBOL = "O'BR;--\\é"
ALPACA_IDS = {101: "q\"\\'; --", 102: "back\\slash'quote é", 103: None, 104: "ünïcode'"}
UNREPAIRABLE = "new'); DROP TABLE x; --"
MANGLED = "\u00a0OrderStatus.CANCELED\u2003"
PROBE_ORDER = 103


def _on_hostile(type_: str, severity: str, order_id: int) -> dict[str, object]:
    return found(type_, severity, order_id=order_id, position_id=100,
                 alpaca_order_id=ALPACA_IDS[order_id], symbol=SYMBOL)


HOSTILE = Case(
    "hostile",
    failed={
        "test_orders.py::test_order_side_matches_purpose[long-exit]": [
            _on_hostile("WRONG_ORDER_SIDE", "CRITICAL", 101)],
        "test_orders.py::test_no_stuck_orders[submitted]": [
            _on_hostile("STUCK_ORDER", "WARNING", 102)],
        "test_orders.py::test_order_status_known": [
            _on_hostile("UNKNOWN_ORDER_STATUS", "WARNING", 103),
            _on_hostile("UNKNOWN_ORDER_STATUS", "WARNING", 104)],
    },
)


def test_hostile_values_come_out_exact(seeded_db: Callable[..., str], run_checks: RunChecks) -> None:
    """Keys and statuses reach the report as stored; every fix touches exactly its own row."""
    url = seeded_db("clean", "hostile")
    _, report = run_checks(url, "-m", "not broker")
    check_run(HOSTILE, report)
    found_by_order = {
        finding["order_id"]: finding
        for test in report["tests"] for finding in test["metadata"].get("findings", [])
    }
    assert found_by_order[103]["details"]["status"] == UNREPAIRABLE
    assert found_by_order[103]["fix"] is None  # Nothing to repair it to: a person decides.
    assert found_by_order[104]["details"] == {"status": MANGLED, "suggested_status": "canceled"}
    # Unicode spaces are printable: the literal stays as stored, readable in the statement.
    assert f"\"status\" = '{MANGLED}'" in found_by_order[104]["fix"]
    for order_id in (101, 102, 104):
        assert_fix_exact(url, found_by_order[order_id])


@pytest.fixture(scope="module")
def hostile_url(pg_server: ScratchServer, migrated_template: str) -> str:
    """A database with the hostile seed, whose probe order the property tests rewrite."""
    url = pg_server.create(template=migrated_template)
    for name in ("clean", "hostile"):
        run_sql_file(url, SEEDS_DIR / f"{name}.sql")
    return url


@pytest.fixture(scope="module")
def session(hostile_url: str) -> Iterator[CheckRun]:
    """A checks run on the hostile database, at the clean seed's as-of."""
    run = open_run(hostile_url, as_of="2025-12-31T11:00:00-05:00")
    yield run
    run.close()


KNOWN_STATUSES = CATALYST_2025_12.vocabulary.stored("orders.status")
STATUS_RULE = catalogue.BY_NAME["order_status_known"]


def _store_status(url: str, status: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE orders SET status = %s WHERE order_id = %s", (status, PROBE_ORDER))


# Any text a VARCHAR(30) holds, weighted towards what breaks quoting.
_AWKWARD = list("'\"\\;-%{}$\n\t\r é\u00a0\u2003\u200b")
HOSTILE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(_AWKWARD),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    ),
    max_size=30,
)
# Known statuses as buggy writers mangle them: spaces around, another case, an enum prefix.
MANGLED_KNOWN = st.builds(
    lambda before, prefix, status, case, after: before + prefix + case(status) + after,
    st.sampled_from(["", " ", "\t", "\u00a0", "\u2003"]),
    st.sampled_from(["", "OrderStatus.", "orderstatus.", "ORDERSTATUS."]),
    st.sampled_from(KNOWN_STATUSES),
    st.sampled_from([str.upper, str.title, str.lower]),
    st.sampled_from(["", " ", "\n", "\u2003"]),
).filter(lambda status: len(status) <= 30)
STATUSES = st.one_of(HOSTILE_TEXT, MANGLED_KNOWN, st.sampled_from([UNREPAIRABLE, MANGLED]))


@settings(max_examples=60, deadline=None, database=None)
@given(status=STATUSES)
def test_unknown_status_found_and_fixed_exactly(
    hostile_url: str, session: CheckRun, status: str
) -> None:
    """Any stored status not in the vocabulary is reported as stored; a repair touches only it."""
    _store_status(hostile_url, status)
    assert isinstance(STATUS_RULE, RowRule)
    read = session.read_alone(STATUS_RULE)
    probe = [f.to_json() for f in read.slice(STATUS_RULE.name, None, 200).findings
             if f.keys["order_id"] == PROBE_ORDER]
    if status in KNOWN_STATUSES:
        assert probe == []
        return
    assert len(probe) == 1
    assert probe[0]["details"]["status"] == status
    assert (probe[0]["symbol"], probe[0]["alpaca_order_id"]) == (SYMBOL, None)
    if probe[0]["fix"] is not None:
        assert_fix_exact(hostile_url, probe[0])


@settings(max_examples=60, deadline=None, database=None)
@given(old=HOSTILE_TEXT, new=HOSTILE_TEXT)
def test_fix_statement_quotes_any_value(
    hostile_url: str, session: CheckRun, old: str, new: str
) -> None:
    """A fix guarded by a hostile value and setting another updates that one row to exactly it."""
    _store_status(hostile_url, old)
    statement = fixes.statement(fixes.update_row(
        "orders", {"order_id": PROBE_ORDER}, {"status": old}, {"status": new}, set_now=()
    ))
    effect = replay(hostile_url, statement)
    assert effect.rowcount == 1, statement
    assert effect.relations_after == effect.relations_before, statement
    expected = {} if new == old else {"status": (old, new)}
    assert effect.changed == ({("orders", PROBE_ORDER): expected} if expected else {}), statement

"""One read per table: for random histories, what the shared read finds equals each rule's own query alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pg import ScratchServer, open_run
from tradewatch import catalogue
from tradewatch.catalogue.rule import RowRule
from tradewatch.checkrun import CheckRun
from tradewatch.reads import ReadResult

AS_OF = datetime.fromisoformat("2025-12-31T11:00:00-05:00")
# A scratch database without the constraints an adopted one may lack: any value can be stored.
LOOSEN = """
ALTER TABLE orders DROP CONSTRAINT orders_position_id_fkey, DROP CONSTRAINT orders_security_id_fkey,
    DROP CONSTRAINT orders_parent_order_id_fkey, DROP CONSTRAINT orders_side_check,
    DROP CONSTRAINT orders_order_purpose_check, DROP CONSTRAINT orders_cycle_id_fkey,
    ALTER COLUMN side DROP NOT NULL, ALTER COLUMN status DROP NOT NULL,
    ALTER COLUMN security_id DROP NOT NULL;
ALTER TABLE positions DROP CONSTRAINT positions_side_check, DROP CONSTRAINT positions_status_check,
    DROP CONSTRAINT positions_security_id_fkey, DROP CONSTRAINT positions_cycle_id_fkey,
    ALTER COLUMN side DROP NOT NULL, ALTER COLUMN status DROP NOT NULL,
    ALTER COLUMN updated_at DROP NOT NULL, ALTER COLUMN security_id DROP NOT NULL;
ALTER TABLE trading_cycles DROP CONSTRAINT trading_cycles_status_check,
    ALTER COLUMN status DROP NOT NULL, ALTER COLUMN updated_at DROP NOT NULL;
INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL'), (2, 'TSLA');
"""

moments = st.one_of(st.none(), st.integers(-60 * 24 * 20, 10).map(lambda m: AS_OF + timedelta(minutes=m)))


def _values(*known: str) -> st.SearchStrategy[str | None]:
    """A vocabulary column's values: known ones, NULL, and misspelt ones."""
    return st.one_of(st.none(), st.sampled_from(known), st.sampled_from(("Long", "SELL ", "?", "Open")))


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[tuple[Any, ...]]]:
    """Random cycles, positions and orders, with NULLs, misspellings and dangling references."""
    cycles = [(f"c{number}", draw(_values("active", "paused", "completed")), draw(moments), draw(moments))
              for number in range(draw(st.integers(0, 3)))]
    positions = [
        (number, draw(st.sampled_from([None, 1, 2, 9])), draw(_values("long", "short")),
         draw(_values("open", "closed", "partial")), draw(moments))
        for number in range(1, draw(st.integers(0, 6)) + 1)
    ]
    orders = []
    for number in range(1, draw(st.integers(0, 12)) + 1):
        orders.append((
            number, draw(st.sampled_from([None, 1, 2, 3, 99])), draw(st.sampled_from([None, 1, 2, 9])),
            draw(st.sampled_from([None, None, 1, 2])), draw(_values("buy", "sell")),
            draw(_values("entry", "exit", "stop_loss", "take_profit")),
            draw(_values("created", "submitted", "new", "filled", "canceled", "cancelled", "accepted")),
            draw(st.sampled_from([0, 5])), draw(moments), draw(moments),
        ))
    return {"cycles": cycles, "positions": positions, "orders": orders}


@pytest.fixture(scope="module")
def loose_url(pg_server: ScratchServer, migrated_template: str) -> str:
    """A migrated scratch database whose constraints are dropped."""
    url = pg_server.create(template=migrated_template)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LOOSEN)
    return url


@pytest.fixture(scope="module")
def base_run(loose_url: str) -> Iterator[CheckRun]:
    """A checks run on it, whose session each example's fresh run reuses."""
    run = open_run(loose_url, as_of=AS_OF.isoformat())
    yield run
    run.close()


def _store(url: str, history: dict[str, list[tuple[Any, ...]]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM orders; DELETE FROM positions; DELETE FROM trading_cycles")
        cursor.executemany(
            "INSERT INTO trading_cycles (cycle_id, status, started_at, updated_at) VALUES (%s, %s, "
            "COALESCE(%s, '2025-12-31 09:00-05'::timestamptz), %s)", history["cycles"])
        cursor.executemany(
            "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price, status,"
            " updated_at) VALUES (%s, 'c0', %s, %s, 10, 100, %s, %s)", history["positions"])
        cursor.executemany(
            "INSERT INTO orders (order_id, position_id, security_id, parent_order_id, side, order_type,"
            " quantity, order_purpose, status, filled_qty, created_at, submitted_at)"
            " VALUES (%s, %s, %s, %s, %s, 'market', 10, %s, %s, %s, COALESCE(%s, NOW()::timestamptz), %s)",
            history["orders"])


def _found(result: ReadResult, rule: RowRule) -> set[tuple[Any, ...]]:
    return {(case, finding.fingerprint, finding.severity, repr(sorted(finding.details.items())))
            for (name, case), found in result.slices.items() if name == rule.name
            for finding in found.findings}


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_the_shared_read_equals_each_rules_own_query(
    loose_url: str, base_run: CheckRun, history: dict[str, list[tuple[Any, ...]]]
) -> None:
    _store(loose_url, history)
    run = replace(base_run, _reads={}, verdicts={}, metadata={})
    judged = 0
    for entity in catalogue.TABLES:
        shared = run.read(entity)
        for rule in run.row_rules(entity):
            alone = _found(run.read_alone(rule), rule)
            assert _found(shared, rule) == alone, rule.name
            judged += len(alone)
            # Every flagged row is counted in full, whatever the cap keeps.
            for (name, _), found in shared.slices.items():
                if name == rule.name:
                    assert found.count == sum(found.kinds.values()) >= len(found.findings)
    assert judged >= 0


def test_the_property_sees_findings(loose_url: str, base_run: CheckRun) -> None:
    """The generated histories do break rules: a read of a known bad one finds something per table."""
    _store(loose_url, {
        "cycles": [("c0", None, None, None)],
        "positions": [(1, 9, "Long", None, None)],
        "orders": [(1, 99, 1, None, "SELL ", None, None, 5, None, None)],
    })
    run = replace(base_run, _reads={}, verdicts={}, metadata={})
    for entity in catalogue.TABLES:
        assert run.read(entity).slices, entity

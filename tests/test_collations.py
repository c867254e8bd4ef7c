"""A column's own collation never decides a vocabulary: under a case-blind one 'Long' is still no 'long'."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import RunChecks
from tests.layouts import LAYOUTS, checks_in, layout_database, nodeid
from tests.pg import ScratchServer, run_sql

CASE_BLIND = """
CREATE COLLATION tw_case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
ALTER TABLE positions ALTER COLUMN side TYPE varchar(10) COLLATE tw_case_blind;
ALTER TABLE orders ALTER COLUMN side TYPE varchar(10) COLLATE tw_case_blind,
    ALTER COLUMN status TYPE varchar(30) COLLATE tw_case_blind;
"""
# Each value the column's collation takes for a known one: position 5 (AAPL), order 1 (NVDA's filled
# entry) and order 9 (NVDA's exit).
MISSPELT = """
UPDATE positions SET side = 'Long' WHERE position_id = 5;
UPDATE orders SET status = 'FILLED' WHERE order_id = 1;
UPDATE orders SET side = 'SELL' WHERE order_id = 9;
"""


def test_case_variants_are_unknown_whatever_the_column_collation(
    pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    layout = LAYOUTS["catalyst-2026-04"]
    url = layout_database(pg_server, layout)
    try:
        run_sql(url, CASE_BLIND)
    except psycopg.errors.FeatureNotSupported:
        pytest.skip("this server has no ICU: no collation on it can take 'Long' for 'long'")
    run_sql(url, MISSPELT)
    result, report = run_checks(url, "-m", "not broker", as_of=layout.as_of)
    checks = checks_in(report)

    def keys(check: str) -> list[tuple[object, ...]]:
        return [(f.get("position_id"), f.get("order_id"), f["type"], f.get("column"))
                for f in checks[check]["metadata"]["findings"]]

    assert (5, None, "UNKNOWN_VALUE", "side") in keys(nodeid("position_values_known", "side"))
    assert [k[1:] for k in keys(nodeid("order_side_known"))] == [(9, "UNKNOWN_VALUE", "side")]
    assert [k[1:3] for k in keys(nodeid("order_status_known"))] == [(1, "UNKNOWN_ORDER_STATUS")]
    assert result.ret == pytest.ExitCode.TESTS_FAILED

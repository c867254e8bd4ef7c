"""The floor: one pass over orders joined to their positions; the checks' own calls, timed and explained."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from psycopg import sql

from tradewatch import catalogue, checkrun, db, reads, settings
from tradewatch.catalogue.rule import EvaluatedRule
from tradewatch.checkrun import CheckRun

CHECKOUT = Path(__file__).resolve().parent.parent


def one_pass(run: CheckRun) -> sql.Composed:
    """A single query reading every order joined to its position once: every column of orders the
    map gives, and the position's side and status, aggregated to one row (no rule judged)."""
    smap = run.map
    read = [sql.SQL("count(o.{})").format(smap.column(field)) for field in sorted(smap.columns)
            if field.startswith("orders.")]
    read += [sql.SQL("count(p.{})").format(smap.column(f"positions.{name}")) for name in ("side", "status")]
    return sql.SQL(
        "SELECT count(*), {read} FROM {orders} AS o LEFT JOIN {positions} AS p ON p.{pid} = o.{opos}"
    ).format(read=sql.SQL(", ").join(read), orders=smap.table("orders"), positions=smap.table("positions"),
             pid=smap.column("positions.id"), opos=smap.column("orders.position"))


def time_floor(run: CheckRun) -> float:
    """Seconds the one pass takes, in a read-only transaction like the checks'."""
    started = time.perf_counter()
    with run.watched.conn.transaction():
        run.watched.conn.execute(one_pass(run)).fetchone()
    return time.perf_counter() - started


def check_calls(run: CheckRun, broker: bool) -> dict[str, float]:
    """Each table's one read and each evaluated rule, as a run makes them: seconds by call."""
    fresh = replace(run, _reads={}, _shared={}, _snapshot=None, verdicts={}, metadata={})
    each: dict[str, float] = {}
    for entity in catalogue.TABLES:
        started = time.perf_counter()
        fresh.read(entity)
        each[f"read {entity}"] = time.perf_counter() - started
    for rule in catalogue.RULES:
        if not isinstance(rule, EvaluatedRule) or (rule.broker and not broker):
            continue
        for case in rule.cases or (None,):
            started = time.perf_counter()
            fresh.verdict(rule, case)
            each[f"{rule.name}[{case}]" if case else rule.name] = time.perf_counter() - started
    return each


@dataclass(frozen=True)
class Plan:
    """One table read's executed plan: how many times it scanned each table whole, and how long it took."""

    label: str
    lines: list[str]
    scans: dict[str, int]
    milliseconds: float


def explain_reads(run: CheckRun) -> list[Plan]:
    """EXPLAIN ANALYZE each table's one read with its real parameters."""
    plans = []
    for entity in catalogue.TABLES:
        query, params = reads.compose(entity, run.row_rules(entity), run.wants(entity), run.ctx)
        statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}").format(query)
        with run.watched.conn.transaction():
            db.expect_few_rows(run.watched.conn)  # as the read itself is made: the run's plan
            row = run.watched.conn.execute(statement, params).fetchone()
        assert row is not None
        document = row[0][0]
        lines: list[str] = []
        scans: dict[str, int] = {}
        _walk(document["Plan"], 0, lines, scans)
        plans.append(Plan(f"read {entity}", lines, scans, float(document["Execution Time"])))
    return plans


def _walk(node: dict[str, Any], depth: int, lines: list[str], scans: dict[str, int]) -> None:
    relation = node.get("Relation Name")
    where = f" on {relation}" if relation else ""
    if node.get("Index Name"):
        where += f" using {node['Index Name']}"
    loops = int(node.get("Actual Loops", 1))
    repeated = f" x{loops}" if loops != 1 else ""
    lines.append(f"{'  ' * depth}{node['Node Type']}{where}  rows={node.get('Actual Rows', 0)}{repeated} "
                 f"time={float(node.get('Actual Total Time', 0.0)) * loops:.2f}ms")
    # A full scan of a table (sequential, or a whole index) is a read of it.
    if (relation and node["Node Type"] in ("Seq Scan", "Parallel Seq Scan")) or (
            relation and "Index" in node["Node Type"] and loops == 1 and not node.get("Index Cond")):
        scans[str(relation)] = scans.get(str(relation), 0) + 1
    for child in node.get("Plans", []):
        _walk(child, depth + 1, lines, scans)


def ini_values() -> dict[str, Any]:
    """The tradewatch ini options of the checkout's pytest.ini, as pytest's getini reads them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CHECKOUT / "pytest.ini")
    section = dict(parser["pytest"]) if parser.has_section("pytest") else {}
    return {spec.ini: section.get(spec.ini, spec.default or "") for spec in settings.SPECS if spec.ini}


@contextmanager
def started_run(url: str, as_of: str, env: Mapping[str, str] | None = None) -> Iterator[CheckRun]:
    """A checks run opened as the plugin opens one, for --database-url and --as-of."""
    resolved = settings.resolve({"database_url": url, "as_of": as_of}, env or {}, ini_values())
    run = checkrun.start(resolved, CHECKOUT)
    try:
        yield run
    finally:
        run.close()


def main() -> None:
    """In a fresh process, as a run starts: the floor and the calls once (cold), then best of rounds."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--broker", action="store_true", help="include the broker checks (ALPACA_*)")
    args = parser.parse_args()
    with started_run(args.database_url, args.as_of, os.environ) as run:
        floor_cold = time_floor(run)
        calls_cold = check_calls(run, args.broker)
        rounds = max(args.rounds - 1, 1)
        floor_warm = min(time_floor(run) for _ in range(rounds))
        calls_warm = min(sum(check_calls(run, args.broker).values()) for _ in range(rounds))
    print(json.dumps({"floor_cold": floor_cold, "floor_warm": floor_warm,
                      "calls_cold": sum(calls_cold.values()), "calls_warm": calls_warm, "each": calls_cold}))


if __name__ == "__main__":
    main()

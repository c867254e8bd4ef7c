"""The floor: the checks' queries called directly, back to back, on one connection; and their plans."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tradewatch import market_hours, settings, vocabulary
from tradewatch.findings import Finding
from tradewatch.queries import cycles, orders, positions, schema
from tradewatch.watched import WatchedDatabase, open_watched

CHECKOUT = Path(__file__).resolve().parent.parent
# Tables that grow with the years of history: a sequential scan over one is a cost that grows too.
HISTORY_TABLES = ("orders", "positions")

Call = tuple[str, Callable[[WatchedDatabase], object]]


def _check(query: Callable[..., list[Finding]], *args: Any) -> Callable[[WatchedDatabase], object]:
    """A check's call: the query, then what report_findings does to its findings before judging."""

    def call(watched: WatchedDatabase) -> object:
        return market_hours.adjust(query(watched, *args), watched.as_of)

    return call


def check_calls(broker: bool) -> list[Call]:
    """Every call pytest checks/ makes, named after its test, in collection order."""
    calls: list[Call] = broker_calls() if broker else []
    for status in vocabulary.RUNNING_CYCLE_STATUSES:
        calls.append((f"cycles.stale[{status}]", _check(cycles.stale, status)))
    calls.append(("cycles.pipeline_status", cycles.pipeline_status))
    calls.append(("cycles.no_cycle_today", _check(cycles.no_cycle_today)))
    calls.append(("positions.stale_pnl", _check(positions.stale_pnl)))
    for position_side in vocabulary.POSITION_SIDES:
        for purpose in vocabulary.ORDER_PURPOSES:
            calls.append((f"orders.wrong_sides[{position_side}-{purpose}]",
                          _check(orders.wrong_sides, position_side, purpose)))
    calls.append(("orders.purpose_missing", _check(orders.purpose_missing)))
    for status in vocabulary.PENDING_STATUSES:
        calls.append((f"orders.stuck[{status}]", _check(orders.stuck, status)))
    calls.append(("orders.unlinked_entries", _check(orders.unlinked_entries)))
    calls.append(("orders.unknown_statuses", _check(orders.unknown_statuses)))
    for column in schema.LEGACY_POSITION_COLUMNS:
        calls.append((f"schema.legacy_column_present[{column}]",
                      _check(schema.legacy_column_present, column)))
    for table, column in schema.REQUIRED_COLUMNS:
        calls.append((f"schema.missing_column[{table}.{column}]",
                      _check(schema.missing_column, table, column)))
    calls.append(("schema.view_columns_missing", _check(schema.view_columns_missing)))
    calls.append(("schema.view_fails_to_run", _check(schema.view_fails_to_run)))
    return calls


def broker_calls() -> list[Call]:
    """The broker checks' calls: one snapshot, then every reconciliation against it."""
    from tradewatch.broker import BrokerClient, BrokerSnapshot, take_snapshot
    from tradewatch.queries import broker as reconcile

    taken: dict[str, BrokerSnapshot] = {}

    def snapshot(watched: WatchedDatabase) -> None:
        client = BrokerClient(watched.settings)
        db_ids = [order.alpaca_order_id for order in reconcile.open_orders(watched)]
        taken["snapshot"] = take_snapshot(
            client, watched.as_of, timedelta(hours=watched.settings.lookback_hours), db_ids
        )

    def against_snapshot(query: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        def call(watched: WatchedDatabase, kind: str) -> list[Finding]:
            return query(watched, taken["snapshot"], kind)

        return call

    calls: list[Call] = [("broker.snapshot", snapshot)]
    for kind in reconcile.POSITION_KINDS:
        calls.append((f"broker.positions[{kind}]", _check(against_snapshot(reconcile.positions), kind)))
    for kind in reconcile.ORDER_KINDS:
        calls.append((f"broker.orders[{kind}]", _check(against_snapshot(reconcile.orders), kind)))
    return calls


def ini_values() -> dict[str, str]:
    """The tradewatch ini options of the checkout's pytest.ini, as pytest's getini reads them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CHECKOUT / "pytest.ini")
    section = dict(parser["pytest"]) if parser.has_section("pytest") else {}
    return {spec.ini: section.get(spec.ini, spec.default or "") for spec in settings.SPECS if spec.ini}


@contextmanager
def watched_database(
    url: str, as_of: str, env: Mapping[str, str] | None = None
) -> Iterator[WatchedDatabase]:
    """A WatchedDatabase opened as the plugin opens it, for --database-url and --as-of."""
    resolved = settings.resolve({"database_url": url, "as_of": as_of}, env or {}, ini_values())
    watched = open_watched(resolved)
    try:
        yield watched
    finally:
        watched.close()


def run_calls(watched: WatchedDatabase, calls: list[Call]) -> tuple[float, dict[str, float]]:
    """Make every call once, back to back; the total and each call's seconds."""
    each: dict[str, float] = {}
    started = time.perf_counter()
    for label, call in calls:
        before = time.perf_counter()
        call(watched)
        each[label] = time.perf_counter() - before
    return time.perf_counter() - started, each


@dataclass
class Executed:
    """One statement a check sent, and which call sent it."""

    label: str
    query: Any
    params: Any


@dataclass
class Recorder:
    """Collects the statements sent on a connection while a label is set."""

    label: str | None = None
    executed: list[Executed] = field(default_factory=list)


def recording_cursor(recorder: Recorder) -> type[psycopg.Cursor[Any]]:
    """A cursor class that notes every statement before sending it."""

    class RecordingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> RecordingCursor:
            if recorder.label is not None:
                recorder.executed.append(Executed(recorder.label, query, params))
            super().execute(query, params, **kwargs)
            return self

    return RecordingCursor


def record(watched: WatchedDatabase, calls: list[Call]) -> list[Executed]:
    """The statements the calls send, each labelled with its call."""
    recorder = Recorder()
    previous = watched.conn.cursor_factory
    watched.conn.cursor_factory = recording_cursor(recorder)
    try:
        for label, call in calls:
            recorder.label = label
            call(watched)
    finally:
        recorder.label = None
        watched.conn.cursor_factory = previous
    return recorder.executed


@dataclass(frozen=True)
class Plan:
    """One statement's executed plan, and the history tables it read sequentially."""

    label: str
    text: str
    lines: list[str]
    seq_scans: list[str]
    milliseconds: float
    catalog: bool


def explain(watched: WatchedDatabase, executed: Executed) -> Plan | None:
    """EXPLAIN ANALYZE a recorded statement with its real parameters; None for other statements."""
    query = executed.query
    composed = query if isinstance(query, sql.Composable) else sql.SQL(str(query))
    text = composed.as_string(watched.conn)
    if not text.lstrip().upper().startswith(("SELECT", "WITH")) or "set_config" in text:
        return None
    statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}").format(composed)
    row = watched.conn.execute(statement, executed.params).fetchone()
    assert row is not None
    document = row[0][0]
    lines: list[str] = []
    seq_scans: list[str] = []
    _walk(document["Plan"], 0, lines, seq_scans)
    return Plan(executed.label, " ".join(text.split()), lines, seq_scans,
                float(document["Execution Time"]), "information_schema" in text)


def _walk(node: dict[str, Any], depth: int, lines: list[str], seq_scans: list[str]) -> None:
    relation = node.get("Relation Name")
    where = ""
    if relation:
        alias = node.get("Alias")
        where = f" on {relation}" + (f" {alias}" if alias and alias != relation else "")
    if node.get("Index Name"):
        where += f" using {node['Index Name']}"
    loops = int(node.get("Actual Loops", 1))
    repeated = f" x{loops}" if loops != 1 else ""
    lines.append(
        f"{'  ' * depth}{node['Node Type']}{where}  rows={node.get('Actual Rows', 0)}{repeated} "
        f"time={float(node.get('Actual Total Time', 0.0)) * loops:.2f}ms"
    )
    if node["Node Type"] == "Seq Scan" and relation in HISTORY_TABLES:
        seq_scans.append(str(relation))
    for child in node.get("Plans", []):
        _walk(child, depth + 1, lines, seq_scans)


def main() -> None:
    """In a fresh process, as a pytest run starts: time the calls once (cold), then best of rounds."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--broker", action="store_true", help="include the broker checks (ALPACA_*)")
    args = parser.parse_args()
    calls = check_calls(args.broker)
    with watched_database(args.database_url, args.as_of, os.environ) as watched:
        cold, each = run_calls(watched, calls)
        warm = min(run_calls(watched, calls)[0] for _ in range(max(args.rounds - 1, 1)))
    print(json.dumps({"cold": cold, "warm": warm, "each": each}))


if __name__ == "__main__":
    main()

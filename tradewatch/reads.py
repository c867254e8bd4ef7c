"""One read per table per run: every rule on the table judged in one query, streamed into slices."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tradewatch import db
from tradewatch.catalogue.rule import Context, Row, RowRule
from tradewatch.catalogue.scope import NULL, Params, Scope, by_broker
from tradewatch.findings import SEVERITIES, Finding
from tradewatch.schema_map.resolve import SchemaMap

# Rows fetched from the server per round trip: memory stays flat however long the table.
BATCH = 2000
Predicate = Callable[[Scope, Context], sql.Composable]


class CatalogueError(RuntimeError):
    """A rule reported a case it does not declare: a fault in the catalogue, never a silent drop."""


@dataclass
class Slice:
    """What one rule found for one case: the whole count, and the worst findings up to the cap (of
    each severity the first by the rows' keys, whatever order the rows arrived in)."""

    cap: int
    count: int = 0
    by_severity: dict[str, list[tuple[Any, int, Finding]]] = field(
        default_factory=lambda: {s: [] for s in SEVERITIES})
    # Every finding counted by (severity, type), kept or not: the terminal table's rows; the
    # acknowledged ones apart.
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    acknowledged: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Findings that fail the check, kept or not: a cap never turns a failing check green.
    failing: int = 0

    def add(self, finding: Finding, key: Any = None) -> None:
        """Count a finding; keep it while it is among its severity's first by key (acknowledged last)."""
        self.count += 1
        (self.acknowledged if finding.acknowledged else self.kinds)[finding.severity, finding.type] += 1
        self.failing += finding.fails
        kept = self.by_severity[finding.severity]
        # The arrival number breaks ties (and orders findings without a key as they came).
        order = (finding.acknowledged is not None, _sortable(key), self.count)
        bisect.insort(kept, (order, self.count, finding), key=lambda entry: entry[0])
        if len(kept) > self.cap:
            kept.pop()

    @property
    def findings(self) -> list[Finding]:
        """Worst first, then by key, up to the cap."""
        return [entry[2] for severity in SEVERITIES for entry in self.by_severity[severity]][: self.cap]


def _sortable(key: Any) -> tuple[int, Any]:
    """Keys of any one type compare; None (no key) comes after them."""
    return (1, "") if key is None else (0, key)


@dataclass
class ReadResult:
    """A table's read: each rule's slices by case, and the rows other checks asked for."""

    slices: dict[tuple[str, str | None], Slice]
    wanted: dict[str, list[Row]]

    def slice(self, rule: str, case: str | None, cap: int) -> Slice:
        """A rule's findings for one case (empty when it found none)."""
        return self.slices.get((rule, case)) or Slice(cap)


def base_columns(scope: Scope) -> dict[str, sql.Composable]:
    """What a finding may need of a row, by the contract's names, for the table's rows."""
    if scope.entity == "orders":
        return _order_columns(scope)
    if scope.entity == "positions":
        return _position_columns(scope)
    return _cycle_columns(scope)


def _symbol_columns(scope: Scope, entity: str) -> dict[str, sql.Composable]:
    """A row's own symbol and its security's key: the symbol is filled in from the run's securities."""
    return {"own_symbol": scope.text(f"{entity}.symbol"), "security_id": scope.opt(f"{entity}.security")}


def read_symbols(conn: psycopg.Connection, smap: SchemaMap) -> dict[Any, str]:
    """Every security's symbol by its key: a small table, read once per run."""
    if not (smap.has("securities.id") and smap.has("securities.symbol")):
        return {}
    query = sql.SQL("SELECT {}, {}::text FROM {}").format(
        smap.column("securities.id"), smap.column("securities.symbol"), smap.table("securities"))
    with conn.transaction():
        return dict(conn.execute(query).fetchall())


def _order_columns(scope: Scope) -> dict[str, sql.Composable]:
    position = scope.opt("orders.position")
    return {
        "order_id": scope.col("orders.id"),
        # The order's position as found (its own, its parent's, or by broker id); else what it names.
        "position_id": sql.SQL("COALESCE({}, {})").format(scope.opt("positions.id"), position)
        if scope.has("positions.id") else position,
        "position_ref": position,
        "alpaca_order_id": scope.text("orders.broker_id"),
        "alpaca_client_order_id": scope.text("orders.client_id"),
        **_symbol_columns(scope, "orders"),
        "cycle_id": scope.text("orders.cycle"),
        **{name: scope.opt(f"orders.{name}") for name in (
            "side", "purpose", "status", "order_type", "quantity", "filled_qty", "filled_price",
            "created_at", "submitted_at", "updated_at", "filled_at")},
        "parent_id": scope.opt("orders.parent"),
        "position_side": scope.opt("positions.side"),
        "side_meaning": scope.canonical("orders.side") if scope.has("orders.side") else NULL,
        "purpose_meaning": scope.canonical("orders.purpose") if scope.has("orders.purpose") else NULL,
        "status_meaning": scope.canonical("orders.status") if scope.has("orders.status") else NULL,
        "position_side_meaning": scope.canonical("positions.side") if scope.has("positions.side") else NULL,
    }


def _position_columns(scope: Scope) -> dict[str, sql.Composable]:
    return {
        "position_id": scope.col("positions.id"),
        **_symbol_columns(scope, "positions"),
        "cycle_id": scope.text("positions.cycle"),
        **{name: scope.opt(f"positions.{name}") for name in (
            "side", "quantity", "status", "entry_price", "unrealized_pnl", "realized_pnl",
            "opened_at", "closed_at", "updated_at")},
        "broker_id": scope.text("positions.broker_id"),
        "side_meaning": scope.canonical("positions.side") if scope.has("positions.side") else NULL,
        "status_meaning": scope.canonical("positions.status") if scope.has("positions.status") else NULL,
    }


def _cycle_columns(scope: Scope) -> dict[str, sql.Composable]:
    return {
        "cycle_id": scope.text("cycles.id"),
        **{name: scope.opt(f"cycles.{name}") for name in (
            "status", "started_at", "ended_at", "heartbeat", "date")},
        "status_meaning": scope.canonical("cycles.status") if scope.has("cycles.status") else NULL,
    }


# The position fields an order's read may use, carried by the join on broker ids.
BY_BROKER_FIELDS = ("id", "side", "status", "symbol", "security", "quantity", "entry_price")


def orphan_legs(smap: SchemaMap) -> bool:
    """Whether bracket legs may lack a position reference of their own and belong to their parent's."""
    return smap.has("orders.position") and smap.has("orders.parent")


def source(scope: Scope, legs: bool = False) -> sql.Composable:
    """The FROM clause of a table's read. The orders read joins each order to its position; the legs
    read joins each leg to its parent's (found by index, for the few legs without one)."""
    smap = scope.map
    if scope.entity != "orders":
        return sql.SQL("{} AS {}").format(smap.table(scope.entity), sql.Identifier(scope.entity[0]))
    joins = [sql.SQL("{} AS o").format(smap.table("orders"))]
    owner = "o"
    if legs:
        joins.append(sql.SQL("LEFT JOIN {} AS parent ON parent.{} = o.{}").format(
            smap.table("orders"), smap.column("orders.id"), smap.column("orders.parent")))
        owner = "parent"
    if scope.has("orders.position", "positions.id"):
        joins.append(sql.SQL("LEFT JOIN {} AS p ON p.{} = {}.{}").format(
            smap.table("positions"), smap.column("positions.id"), sql.Identifier(owner),
            smap.column("orders.position")))
    if by_broker(smap) and scope.has("positions.id"):
        # One position per broker id (the earliest), so a duplicate never doubles an order.
        carried = [sql.SQL("b.{} AS {}").format(smap.column(f"positions.{name}"), sql.Identifier(name))
                   for name in BY_BROKER_FIELDS if smap.has(f"positions.{name}")]
        joins.append(sql.SQL(
            "LEFT JOIN (SELECT DISTINCT ON (b.{bid}) b.{bid}::text AS broker_id, {carried} "
            "FROM {positions} AS b WHERE b.{bid} IS NOT NULL ORDER BY b.{bid}, b.{pid}) AS by_broker "
            "ON by_broker.broker_id = {owner}.{obid}::text"
        ).format(bid=smap.column("positions.broker_id"), carried=sql.SQL(", ").join(carried),
                 positions=smap.table("positions"), pid=smap.column("positions.id"),
                 owner=sql.Identifier(owner), obid=smap.column("orders.broker_id")))
    return sql.SQL(" ").join(joins)


def compose(
    entity: str, rules: Iterable[RowRule], wanted: Mapping[str, Predicate], ctx: Context,
    legs: bool = False,
) -> tuple[sql.Composed, dict[str, Any]]:
    """One query over the table: every row breaking a rule or wanted by a check, with its flags.
    With legs, the query reads only the bracket legs listed in the parameter 'legs'."""
    params = Params()
    scope = Scope(entity, ctx.map, params)
    rules = list(rules)
    columns = [sql.SQL("{} AS {}").format(expr, sql.Identifier(name))
               for name, expr in base_columns(scope).items()]
    orphan = _orphan(scope)
    # The filter: each flag bare, since a WHERE keeps a row only when one of them is true, and a
    # NULL one (like a false one) keeps none; the columns say true or false for the rows it keeps.
    flags: list[sql.Composable] = []
    for number, rule in enumerate(rules):
        assert rule.predicate is not None, rule.name
        flag = sql.SQL("({})").format(rule.predicate(scope, ctx))
        if reads_position(rule) and not legs:
            # A leg without its own position is judged by the legs read, with its parent's.
            flag = sql.SQL("({} AND NOT {})").format(flag, orphan)
        flags.append(flag)
        columns.append(sql.SQL("{} IS TRUE AS {}").format(flag, sql.Identifier(f"rule_{number}")))
        if rule.cases_of is not None:
            cases = rule.cases_of(scope, ctx)
        else:
            case = rule.case_of(scope, ctx) if rule.case_of is not None else NULL
            cases = sql.SQL("ARRAY[({})::text]").format(case)
        columns.append(sql.SQL("{} AS {}").format(cases, sql.Identifier(f"cases_{number}")))
    if orphan_legs(ctx.map) and not legs:
        wanted = {**wanted, ORPHAN_LEGS: lambda scope, ctx: orphan}
    for name, predicate in wanted.items():
        flag = sql.SQL("({})").format(predicate(scope, ctx))
        flags.append(flag)
        columns.append(sql.SQL("{} IS TRUE AS {}").format(flag, sql.Identifier(f"wanted_{name}")))
    condition = sql.SQL(" OR ").join(flags) if flags else sql.SQL("false")
    if legs:
        condition = sql.SQL("({}) AND o.{} = ANY(%(legs)s)").format(condition, ctx.map.column("orders.id"))
    # No ORDER BY: sorting would tempt the planner (which cannot guess how few rows break a rule)
    # into reading the table in key order; the slices order the few flagged rows themselves.
    query = sql.SQL("SELECT {columns}, {alias}.{key} AS tw_key FROM {source} WHERE {condition}").format(
        columns=sql.SQL(", ").join(columns), source=source(scope, legs), condition=condition,
        alias=sql.Identifier(entity[0]), key=ctx.map.column(f"{entity}.id"),
    )
    return query, params.values


ORPHAN_LEGS = "orphan_legs"


def reads_position(rule: RowRule) -> bool:
    """Whether a rule on orders judges them by their position (and so a leg by its parent's)."""
    return rule.reads == "orders" and any(field.startswith("positions.") for field in rule.needs)


def _orphan(scope: Scope) -> sql.Composable:
    """A bracket leg without a position reference of its own (false where legs cannot lack one)."""
    if scope.entity != "orders" or not orphan_legs(scope.map):
        return sql.SQL("false")
    return sql.SQL("({} IS NULL AND {} IS NOT NULL)").format(
        scope.col("orders.position"), scope.col("orders.parent"))


def run(
    conn: psycopg.Connection, entity: str, rules: list[RowRule], wanted: Mapping[str, Predicate],
    ctx: Context, settle: Callable[[RowRule, Finding], Finding], cap: int,
    symbols: Mapping[Any, str] | None = None,
) -> ReadResult:
    """Stream the table's one read; each flagged row becomes its rules' findings, settled and sliced.
    Bracket legs without a position of their own are judged after, found by their parent's."""
    slices: dict[tuple[str, str | None], Slice] = {}
    kept: dict[str, list[Row]] = {name: [] for name in wanted}
    legs: list[Any] = []
    query, params = compose(entity, rules, wanted, ctx)
    symbols = symbols or {}
    for row in _stream(conn, query, params, symbols):
        _judge(row, rules, ctx, settle, cap, slices)
        for name in wanted:
            if row[f"wanted_{name}"]:
                kept[name].append(row)
        if row.get(f"wanted_{ORPHAN_LEGS}"):
            legs.append(row["order_id"])
    by_parent = [rule for rule in rules if reads_position(rule)]
    if legs and by_parent:
        query, params = compose(entity, by_parent, {}, ctx, legs=True)
        for row in _stream(conn, query, {**params, "legs": legs}, symbols):
            _judge(row, by_parent, ctx, settle, cap, slices)
    for rows in kept.values():
        rows.sort(key=lambda row: _sortable(row["tw_key"]))
    return ReadResult(slices, kept)


def _judge(row: Row, rules: list[RowRule], ctx: Context, settle: Callable[[RowRule, Finding], Finding],
           cap: int, slices: dict[tuple[str, str | None], Slice]) -> None:
    """A read row's findings, rule by rule and case by case, into the slices."""
    for number, rule in enumerate(rules):
        if not row[f"rule_{number}"]:
            continue
        for case in row[f"cases_{number}"]:
            if (case in rule.cases) if rule.cases else case is None:
                assert rule.finding is not None
                finding = settle(rule, rule.finding(row, case, ctx))
                slices.setdefault((rule.name, case), Slice(cap)).add(finding, row["tw_key"])
            else:
                raise CatalogueError(f"rule {rule.name} reported case {case!r}, not one of {rule.cases}")


def _stream(
    conn: psycopg.Connection, query: sql.Composed, params: dict[str, Any],
    symbols: Mapping[Any, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows as they arrive (the server may read the table in parallel), in a read-only transaction,
    each with its symbol: its own, else its security's (None when that points nowhere)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        db.expect_few_rows(conn)
        for row in cursor.stream(query, params, size=BATCH):
            if "own_symbol" in row:
                row["symbol"] = row["own_symbol"] or (symbols or {}).get(row["security_id"])
            yield row

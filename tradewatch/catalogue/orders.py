"""Order rules: the right side for the purpose, a known purpose, status and side, none stuck or unlinked."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from tradewatch import db
from tradewatch import vocabulary as v
from tradewatch.catalogue.common import (
    cutoff,
    first_known,
    keys,
    links_orders,
    minutes_since,
    older_than,
    repair,
    shown,
    unknown_value,
    waited,
)
from tradewatch.catalogue.rule import Context, EvaluatedRule, Row, RowRule, Rule, Sources
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding, jsonable

# --- side matches purpose -------------------------------------------------------------------

SIDE_CASES = tuple(f"{side}-{purpose}" for side in v.POSITION_SIDES for purpose in v.ORDER_PURPOSES)


def _wrong_side(scope: Scope, ctx: Context) -> sql.Composable:
    # Buy when a long position opens or a short one closes; sell otherwise. A NULL or unknown
    # side is wrong too. Orders without a position, a purpose or a side of theirs are other rules'.
    # Each array is a constant: an array chosen per row would be unpacked again on every row.
    # The side first: on most rows it is right, and the rest of the test is then not made.
    return sql.SQL(
        "{pid} IS NOT NULL AND (CASE WHEN {long_side} = {opening} THEN {buys} ELSE {sells} END) "
        "IS NOT TRUE AND {purpose_known} AND {side_known}"
    ).format(
        pid=scope.col("positions.id"), purpose_known=scope.is_one_of("orders.purpose"),
        side_known=scope.is_one_of("positions.side"),
        long_side=scope.is_one_of("positions.side", ("long",)),
        opening=scope.is_one_of("orders.purpose", v.OPENING_PURPOSES),
        buys=scope.is_one_of("orders.side", ("buy",)), sells=scope.is_one_of("orders.side", ("sell",)),
    )


def _side_case(scope: Scope, ctx: Context) -> sql.Composable:
    return sql.SQL("{} || '-' || {}").format(
        scope.canonical("positions.side"), scope.canonical("orders.purpose"))


def _wrong_side_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    assert case is not None
    position_side, purpose = case.split("-", 1)
    expected = v.expected_side(position_side, purpose)
    side = row["side"]
    return Finding(
        "WRONG_ORDER_SIDE", "CRITICAL", keys(row),
        f"order {row['order_id']} ({row['symbol']}, {purpose} of a {position_side} position) is "
        f"{'a ' + shown(side) if side is not None else 'without a side'}, expected {expected}",
        details={"side": side, "expected_side": expected, "order_purpose": row["purpose"],
                 "position_side": row["position_side"]},
        fix_data=ctx.fix("orders", row["order_id"], guard={"side": side},
                         changes={"side": ctx.map.vocabulary.spelling("orders.side", expected)}),
    )


ORDER_SIDE_MATCHES_PURPOSE = RowRule(
    "order_side_matches_purpose", "test_order_side_matches_purpose", "orders",
    ("WRONG_ORDER_SIDE",), "CRITICAL", "orders",
    "an order buys to open a long or close a short, and sells to open a short or close a long; "
    "a bracket leg belongs to its parent's position, an entry may find its position by broker id",
    cases=SIDE_CASES,
    cases_about="`long`/`short` by `entry`, `exit`, `stop_loss`, `take_profit`, `scale_in`, `scale_out`",
    needs=("orders.side", "orders.purpose", "positions.id", "positions.side"),
    case_values={case: (("positions.side", case.split("-", 1)[0]), ("orders.purpose", case.split("-", 1)[1]))
                 for case in SIDE_CASES},
    requires=links_orders,
    predicate=_wrong_side, case_of=_side_case, finding=_wrong_side_finding,
)

# --- purpose set ----------------------------------------------------------------------------


def _purpose_missing(row: Row, case: str | None, ctx: Context) -> Finding:
    purpose = row["purpose"]
    known = ctx.map.vocabulary.stored("orders.purpose")
    return Finding(
        "ORDER_PURPOSE_MISSING", "WARNING", keys(row),
        f"order {row['order_id']} ({row['symbol']}) has "
        + (f"purpose {shown(purpose)}" if purpose is not None else "no purpose")
        + f", expected one of {', '.join(known)}",
        details={"order_purpose": purpose},
    )


ORDER_PURPOSE_SET = RowRule(
    "order_purpose_set", "test_order_purpose_set", "orders", ("ORDER_PURPOSE_MISSING",), "WARNING",
    "orders", "every order has a purpose of the layout's vocabulary (NULL is missing)",
    needs=("orders.purpose",),
    predicate=lambda scope, ctx: sql.SQL("{} IS NOT TRUE").format(scope.is_one_of("orders.purpose")),
    finding=_purpose_missing,
)

# --- stuck ----------------------------------------------------------------------------------


def _stuck(scope: Scope, ctx: Context) -> sql.Composable:
    # Resting stops and targets (a bracket's legs among them) wait at the broker by design, known
    # by their purpose: a parent alone excuses no order of known purpose (an entry naming one, or
    # itself, still waits).
    resting = _resting_without_purpose(scope)
    if scope.has("orders.purpose"):
        # A purpose NULL or unknown (order_purpose_set reports it) says nothing: the other signs do.
        unsaid = sql.SQL("{} IS NOT TRUE").format(scope.is_one_of("orders.purpose"))
        resting = sql.SQL("{} IS TRUE OR ({} AND ({}) IS TRUE)").format(
            scope.is_one_of("orders.purpose", ("stop_loss", "take_profit")), unsaid, resting)
    since = first_known(scope, "orders.submitted_at", "orders.created_at")
    return sql.SQL(" AND ").join([
        scope.is_one_of("orders.status", v.PENDING_STATUSES), sql.SQL("({}) IS NOT TRUE").format(resting),
        older_than(scope, ctx, since, cutoff(ctx, NO_STUCK_ORDERS.name, "stuck_order_minutes")),
    ])


def _resting_without_purpose(scope: Scope) -> sql.Composable:
    """Whether an order rests by design, told without its purpose: a stop by its type, a bracket's
    leg by naming a parent other than itself (false where the layout has neither)."""
    signs: list[sql.Composable] = []
    if scope.has("orders.order_type"):
        signs.append(sql.SQL("({} = ANY({}::text[]))").format(
            scope.exact("orders.order_type"), scope.param(list(v.STOP_ORDER_TYPES))))
    if scope.has("orders.parent"):
        signs.append(sql.SQL("({} IS NOT NULL AND {} <> {})").format(
            scope.col("orders.parent"), scope.col("orders.parent"), scope.col("orders.id")))
    return sql.SQL(" OR ").join(signs) if signs else sql.SQL("false")


def _stuck_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    since = row["submitted_at"] or row["created_at"]
    minutes = minutes_since(ctx, since)
    unsent = row["submitted_at"] is None
    threshold = ctx.threshold(NO_STUCK_ORDERS.name, "stuck_order_minutes")
    state = "created and never submitted" if unsent else shown(row["status"])
    how_long = waited(ctx, since, "since an unknown time")
    words = ctx.map.vocabulary
    ended = "expired" if words.has("orders.status", "expired") else "canceled"
    return Finding(
        "STUCK_ORDER", "WARNING", keys(row),
        f"order {row['order_id']} ({row['symbol']} {row['side']} {row['purpose'] or 'unknown purpose'} "
        f"{jsonable(row['quantity'])}) {state} {how_long} (threshold {threshold:g})",
        details={"status": row["status"], "minutes_pending": minutes, "never_submitted": unsent,
                 "side": row["side"], "order_purpose": row["purpose"], "quantity": row["quantity"]},
        # Guarded by the status read, so a fix reviewed late cannot undo a fill.
        fix_data=ctx.fix("orders", row["order_id"], guard={"status": row["status"]},
                         changes={"status": words.spelling("orders.status", ended)},
                         now=("expired_at" if ended == "expired" else "cancelled_at", "updated_at")),
    )


NO_STUCK_ORDERS = RowRule(
    "no_stuck_orders", "test_no_stuck_orders", "orders", ("STUCK_ORDER",), "WARNING", "orders",
    "no order waits on the broker (or was never sent) beyond the threshold; an order with no "
    "time at all is stuck; stops and targets, a bracket's legs among them, rest by design",
    cases=v.PENDING_STATUSES, cases_about=", ".join(f"`{status}`" for status in v.PENDING_STATUSES),
    needs=("orders.status",),
    case_values={status: (("orders.status", status),) for status in v.PENDING_STATUSES},
    requires=lambda smap: None if smap.has("orders.submitted_at") or smap.has("orders.created_at")
    else f"the {smap.profile.name} layout has no orders.submitted_at or orders.created_at",
    predicate=_stuck, case_of=lambda scope, ctx: scope.canonical("orders.status"),
    finding=_stuck_finding, time_based=True, thresholds=("stuck_order_minutes",),
    volatile=("minutes_pending",),
)

# --- linked to a position -------------------------------------------------------------------


def _unlinked(scope: Scope, ctx: Context) -> sql.Composable:
    # Shares bought or sold that no position tracks, however the order would find one; or a
    # reference to a position that does not exist, even where the broker id finds another.
    holds = [scope.is_one_of("orders.status", v.HOLDING_STATUSES)] if scope.has("orders.status") else []
    if scope.has("orders.filled_qty"):
        holds.append(sql.SQL("{} > 0").format(scope.col("orders.filled_qty")))
    untracked = sql.SQL("{} IS NULL AND ({})").format(
        scope.col("positions.id"), sql.SQL(" OR ").join(holds) if holds else sql.SQL("false"))
    if not scope.has("orders.position"):
        return untracked
    return sql.SQL("({} IS NOT NULL AND {} IS NULL) OR ({})").format(
        scope.col("orders.position"), scope.referenced("positions.id"), untracked)


def _unlinked_case(scope: Scope, ctx: Context) -> sql.Composable:
    if not scope.has("orders.position"):
        return sql.SQL("'no_position'")
    return sql.SQL("CASE WHEN {} IS NOT NULL THEN 'dangling_position' ELSE 'no_position' END").format(
        scope.col("orders.position"))


def _unlinked_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    what = f"{row['purpose'] or 'order'} {row['order_id']} ({row['symbol']} {row['side']} " \
           f"{jsonable(row['filled_qty'])} filled, {shown(row['status'])})"
    message = (f"{what} names position {row['position_ref']}, which does not exist"
               if case == "dangling_position" else f"{what} belongs to no position")
    return Finding(
        "UNLINKED_ORDER", "CRITICAL", keys(row), message,
        details={"side": row["side"], "status": row["status"], "filled_qty": row["filled_qty"],
                 "filled_at": row["filled_at"], "order_purpose": row["purpose"],
                 "position_ref": row["position_ref"]},
    )


ORDER_LINKED_TO_POSITION = RowRule(
    "order_linked_to_position", "test_order_linked_to_position", "orders", ("UNLINKED_ORDER",),
    "CRITICAL", "orders",
    "an order that filled (in part) belongs to a position, and no order names a position that "
    "does not exist",
    cases=("no_position", "dangling_position"), cases_about="`no_position`, `dangling_position`",
    needs=("positions.id",), case_fields={"dangling_position": ("orders.position",)},
    requires=links_orders,
    predicate=_unlinked, case_of=_unlinked_case, finding=_unlinked_finding,
)

# --- known status and side ------------------------------------------------------------------


def _unknown_status(row: Row, case: str | None, ctx: Context) -> Finding:
    status = row["status"]
    repaired = repair(ctx.map, "orders.status", status)
    return Finding(
        "UNKNOWN_ORDER_STATUS", "WARNING", keys(row),
        f"order {row['order_id']} ({row['symbol']}) has "
        + (f"status {shown(status)}, which the layout's vocabulary does not know"
           if status is not None else "no status"),
        details={"status": status, "suggested_status": repaired},
        fix_data=None if repaired is None else ctx.fix(
            "orders", row["order_id"], guard={"status": status}, changes={"status": repaired}),
    )


ORDER_STATUS_KNOWN = RowRule(
    "order_status_known", "test_order_status_known", "orders", ("UNKNOWN_ORDER_STATUS",), "WARNING",
    "orders", "every order's status is in the layout's vocabulary (both spellings of cancel; NULL is "
    "unknown)",
    needs=("orders.status",),
    predicate=lambda scope, ctx: sql.SQL("{} IS NOT TRUE").format(scope.is_one_of("orders.status")),
    finding=_unknown_status,
)


ORDER_SIDE_KNOWN = RowRule(
    "order_side_known", "test_order_side_known", "orders", ("UNKNOWN_VALUE",), "WARNING", "orders",
    "every order's side is in the layout's vocabulary ('SELL ' and NULL are not)",
    needs=("orders.side",),
    predicate=lambda scope, ctx: sql.SQL("{} IS NOT TRUE").format(scope.is_one_of("orders.side")),
    finding=lambda row, case, ctx: unknown_value(row, "orders.side", ctx),
)



# --- client order ids unique -----------------------------------------------------------------


# Types whose ranges the server's statistics give as text (a range of other types is read whole).
SPLIT_TYPES = ("text", "character varying")
# At most this many ranges of client ids, each grouped by a process of its own.
MAX_RANGES = 8


def _cuts(sources: Sources) -> list[str]:
    """Client ids that cut the ids into about equal ranges, one per worker the server gives a query,
    in the column's order: from the table's statistics (none without them, or for ids not text)."""
    relation, column = sources.ctx.map.tables["orders"], sources.ctx.map.columns["orders.client_id"]
    conn = sources.connection()
    # A SQL_ASCII session's text may come back escaped: a cut must reach the server as it was read.
    if relation.type_of(column) not in SPLIT_TYPES or conn.info.encoding == "ascii":
        return []
    with conn.transaction():
        row = conn.execute(
            "SELECT histogram_bounds::text::text[], current_setting('max_parallel_workers_per_gather')::int "
            "FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = %s",
            (relation.schema, relation.name, column)).fetchone()
    if row is None or not row[0]:
        return []
    bounds, ranges = row[0], min(max(row[1], 1), MAX_RANGES)
    # The statistics hold the bounds in the column's own order (not Python's): keep it.
    return list(dict.fromkeys(bounds[len(bounds) * part // ranges] for part in range(1, ranges)))


def _shared_ids(
    sources: Sources, names: Mapping[str, sql.Composable],
) -> tuple[sql.Composable, dict[str, str]]:
    """The client ids more than one order carries, grouped range by range through migration 0007's
    index: the server groups the ranges side by side, and equal ids fall in one range."""
    # Every id falls in a range whatever order the cuts come in; in two, if the statistics disagree
    # with the column's order, so the caller keeps each id once.
    cuts = {f"cut{number}": cut for number, cut in enumerate(_cuts(sources))}
    bounds = [None, *cuts, None]
    ranges = []
    for low, high in itertools.pairwise(bounds):
        within = [sql.SQL("d.{client} IS NOT NULL").format(**names)]
        if low is not None:
            within.append(sql.SQL("d.{client} >= {low}::text").format(**names, low=sql.Placeholder(low)))
        if high is not None:
            within.append(sql.SQL("d.{client} < {high}::text").format(**names, high=sql.Placeholder(high)))
        ranges.append(sql.SQL(
            "SELECT d.{client} AS client FROM {orders} AS d WHERE {within} GROUP BY d.{client} "
            "HAVING count(*) > 1").format(**names, within=sql.SQL(" AND ").join(within)))
    return sql.SQL(" UNION ALL ").join(ranges), cuts


def _duplicate_client_ids(sources: Sources, case: str | None) -> list[Finding]:
    """Client order ids that more than one order carries: the broker takes one as a resubmission."""
    smap = sources.ctx.map
    names = {"client": smap.column("orders.client_id"), "id": smap.column("orders.id"),
             "orders": smap.table("orders")}
    # The ids shared first, from the ids alone (in key order through migration 0007's index), then
    # the few orders carrying them: no order's key is sorted or gathered unless it is a duplicate.
    # One statement: the shared ids never travel to Python and back, where text a SQL_ASCII
    # database holds would come back escaped and match nothing.
    # The lateral look-up (OFFSET 0 keeps it one) probes the index for the shared ids alone: the
    # planner, which cannot tell how few they are, would otherwise join them to a scan of orders.
    shared, cuts = _shared_ids(sources, names)
    carrying = sql.SQL(
        "WITH shared AS MATERIALIZED ({shared}) "
        "SELECT s.client::text, o.id FROM (SELECT DISTINCT client FROM shared) AS s CROSS JOIN LATERAL "
        "(SELECT c.{id} AS id FROM {orders} AS c WHERE c.{client} = s.client OFFSET 0) AS o "
        "ORDER BY 1, 2").format(**names, shared=shared)
    conn = sources.connection()
    by_client: dict[str, list[Any]] = {}
    with conn.transaction():
        db.expect_few_rows(conn)  # the ranges are grouped side by side only if few ids come back
        for client_id, order_id in conn.execute(carrying, cuts):
            by_client.setdefault(client_id, []).append(order_id)
    return [
        Finding(
            "DUPLICATE_CLIENT_ORDER_ID", "WARNING", {"alpaca_client_order_id": client_id},
            f"{len(order_ids)} orders carry client order id {shown(client_id)}: "
            f"{', '.join(map(str, order_ids[:10]))}" + (" ..." if len(order_ids) > 10 else ""),
            details={"order_ids": order_ids[:200], "count": len(order_ids)},
        )
        for client_id, order_ids in by_client.items()
    ]


CLIENT_ORDER_IDS_UNIQUE = EvaluatedRule(
    "client_order_ids_unique", "test_client_order_ids_unique", "orders", ("DUPLICATE_CLIENT_ORDER_ID",),
    "WARNING", "orders", "no two orders carry the same client order id (the broker would take the "
    "second for a resubmission of the first)",
    needs=("orders.client_id",), evaluate=_duplicate_client_ids,
)

RULES: tuple[Rule, ...] = (
    ORDER_SIDE_MATCHES_PURPOSE, ORDER_PURPOSE_SET, NO_STUCK_ORDERS, ORDER_LINKED_TO_POSITION,
    ORDER_STATUS_KNOWN, ORDER_SIDE_KNOWN, CLIENT_ORDER_IDS_UNIQUE,
)

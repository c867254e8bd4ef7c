"""What the later layouts asked of the rules, one piece at a time: broker statuses a layout has no word
for, fixes written in the layout's words, detection under renamed columns, the reasons a check
does not apply."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest

from tests.alpaca_server import AlpacaServer
from tests.broker_book import AS_OF, db_orders, deep_snapshot, desk, make_settings, oid
from tradewatch import catalogue
from tradewatch.catalogue.rule import Context
from tradewatch.fixes import FixData, update_row
from tradewatch.reconcile.status import order_status_mismatches
from tradewatch.schema_map.catalog import Catalog, Relation
from tradewatch.schema_map.profiles import (
    CATALYST_2026_02,
    CATALYST_2026_04,
    CATALYST_INTERNATIONAL,
    PROFILES,
    Profile,
)
from tradewatch.schema_map.resolve import SchemaMap, SchemaMapError, detect, resolve


def catalog_of(profile: Profile, **renamed: str) -> Catalog:
    """A database holding exactly the profile's tables and columns, some columns renamed (old=new)."""
    columns: dict[str, list[str]] = {}
    for field, name in profile.names.items():
        entity, _, part = field.partition(".")
        table = profile.names[f"{entity}.table"]
        if name and table and part != "table":
            columns.setdefault(table, []).append(renamed.get(name, name))
    return Catalog(("public",), {("public", table): Relation("public", table, False, tuple(names))
                                 for table, names in columns.items()})


def map_of(profile: Profile) -> SchemaMap:
    """The profile's schema map on a database that is exactly the profile."""
    return resolve(catalog_of(profile), profile.name, ())


# --- broker statuses a layout has no word for ---------------------------------------------------

@pytest.mark.parametrize(("profile", "status", "held_as"), [
    ("catalyst-2025-12", "held", ("held",)),
    ("catalyst-2026-04", "held", ("new", "accepted", "submitted")),
    ("catalyst-2026-04", "new", ("new",)),
    ("catalyst-2026-02", "new", ("submitted",)),
    ("catalyst-2026-02", "accepted", ("submitted",)),
    ("catalyst-2026-02", "expired", ("canceled",)),
    ("catalyst-2026-02", "partially_filled", ("partially_filled",)),
    ("catalyst-2026-02", "not_found", ()),
])
def test_a_layout_records_a_broker_status_as_it_can(
    profile: str, status: str, held_as: tuple[str, ...],
) -> None:
    assert PROFILES[profile].vocabulary.holds_as("orders.status", status) == held_as


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with desk() as running:
        yield running


@pytest.mark.parametrize(("profile", "stored", "meaning", "broker"), [
    ("catalyst-2026-02", "submitted", "submitted", "accepted"),  # the layout has no 'accepted'
    ("catalyst-2026-04", "new", "new", "held"),  # nor this one 'held' (a bracket's stop leg)
    ("catalyst-2026-02", "cancelled", "canceled", "expired"),  # an expiry is a cancel to it
], ids=["02-submitted-accepted", "04-new-held", "02-cancelled-expired"])
def test_a_status_the_layout_cannot_hold_agrees_with_its_stand_in(
    server: AlpacaServer, profile: str, stored: str, meaning: str, broker: str,
) -> None:
    """Without the layout's words the order is a mismatch (as the December layout would judge it);
    with them it agrees, and a real disagreement is still one."""
    for entry in server.orders:
        if entry["id"] == oid(3):
            entry["status"] = broker
    rows = [dataclasses.replace(row, status=stored, meaning=meaning) if row.order_id == 3 else row
            for row in db_orders()]
    snapshot = deep_snapshot(server, (oid(3),))
    assert [f.keys["order_id"] for f in order_status_mismatches(rows, snapshot, as_of=AS_OF)] == [3]
    assert order_status_mismatches(rows, snapshot, as_of=AS_OF, words=PROFILES[profile].vocabulary) == []
    filled = [dataclasses.replace(row, status="filled", meaning="filled") if row.order_id == 3 else row
              for row in rows]
    (finding,) = order_status_mismatches(filled, snapshot, as_of=AS_OF, words=PROFILES[profile].vocabulary)
    assert (finding.keys["order_id"], finding.severity) == (3, "CRITICAL")


# --- a broker fix in the layout's words ---------------------------------------------------------

def _context(profile: Profile) -> Context:
    return Context(map_of(profile), datetime.fromisoformat("2026-04-15T11:00:00-04:00"), make_settings())


def _broker_fix(status: str) -> FixData:
    return update_row("orders", {"order_id": 7}, {"status": "accepted"},
                      {"status": status, "filled_qty": Decimal(0)}, source="broker")


@pytest.mark.parametrize(("profile", "broker", "written"), [
    ("catalyst-2025-12", "canceled", {"status": "canceled", "filled_qty": 0}),
    ("catalyst-2026-02", "canceled", {"status": "cancelled", "filled_quantity": 0}),
    ("catalyst-2026-02", "expired", {"status": "cancelled", "filled_quantity": 0}),
    ("catalyst-2026-04", "expired", {"status": "expired", "filled_quantity": 0}),
    ("catalyst-2026-04", "held", {"status": "new", "filled_quantity": 0}),
    ("catalyst-2026-04", "not_found", None),  # the layout has no word for it: a person decides
    ("catalyst-2025-12", "frozen_for_review", None),  # nor any layout for a status no one knows
])
def test_a_broker_fix_writes_the_layouts_words(
    profile: str, broker: str, written: dict[str, object] | None,
) -> None:
    fix = _context(PROFILES[profile]).translated(_broker_fix(broker))
    assert (dict(fix.set) if fix else None) == written
    if fix is not None:
        assert fix.set["status"] in PROFILES[profile].vocabulary.stored("orders.status")


# --- detection under the names tradewatch_schema gives ------------------------------------------

def test_detection_follows_a_renamed_broker_id_column() -> None:
    renamed = catalog_of(CATALYST_2026_04, broker_order_id="ext_order_id")
    with pytest.raises(SchemaMapError, match="neither alpaca_order_id nor broker_order_id"):
        detect(renamed, {})
    assert detect(renamed, {"orders.broker_id": "ext_order_id"}) is CATALYST_2026_04
    without_purpose = catalog_of(CATALYST_2026_02, broker_order_id="ext_order_id")
    assert detect(without_purpose, {"orders.broker_id": "ext_order_id"}) is CATALYST_2026_02
    # 'orders.table = -' turns the order rules off; the orders table still there says which desk it is.
    assert detect(catalog_of(CATALYST_2026_04), {"orders.table": None}) is CATALYST_2026_04
    with pytest.raises(SchemaMapError, match=r"orders\.table names no table trades"):
        detect(catalog_of(CATALYST_2026_04), {"orders.table": "trades"})


# --- why a check does not apply -----------------------------------------------------------------

def test_on_the_hong_kong_desk_a_broker_check_does_not_apply_for_its_broker() -> None:
    """Its broker first, whatever else the layout lacks (no orders table, for one)."""
    smap = map_of(CATALYST_INTERNATIONAL)
    reasons = {catalogue.gaps(rule, case, smap)[0].reason
               for rule in catalogue.RULES if rule.broker for case in (rule.cases or (None,))}
    assert reasons == {"the catalyst-international desk trades through moomoo, not Alpaca"}


def test_a_rule_on_a_table_the_layout_lacks_says_so() -> None:
    smap = map_of(CATALYST_INTERNATIONAL)
    rule = catalogue.BY_NAME["order_linked_to_position"]
    assert {catalogue.gaps(rule, case, smap)[0].reason for case in rule.cases} == {
        "the catalyst-international layout has no orders table"}

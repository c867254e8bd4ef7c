"""The schema map of one run: a profile, picked or detected, with overrides, checked against the database."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from psycopg import sql

from tradewatch.schema_map.catalog import Catalog, Relation
from tradewatch.schema_map.model import BY_NAME, ENTITIES, FIELD_NAMES
from tradewatch.schema_map.profiles import (
    AUTO,
    CATALYST_2025_12,
    CATALYST_2026_02,
    CATALYST_2026_04,
    CATALYST_INTERNATIONAL,
    PROFILES,
    Market,
    Profile,
)
from tradewatch.vocabulary import Vocabulary, VocabularyError

# An override's value that says the layout has no such table or column.
NONE = "-"


class SchemaMapError(ValueError):
    """The map cannot be built: an unknown profile, a bad override, or an unrecognised layout."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Gap:
    """Why a field cannot be read, and whether that stops the rules needing it (an error)."""

    reason: str
    blocks: bool = False


@dataclass(frozen=True)
class SchemaMap:
    """Where each logical field lives in this database, and why the missing ones are missing."""

    profile: Profile
    detected: bool
    tables: Mapping[str, Relation]
    columns: Mapping[str, str]
    # Fields the rules cannot read: one declared but missing (blocking) makes its rules errors.
    absent: Mapping[str, Gap]
    vocabulary: Vocabulary
    market: Market
    overrides: Mapping[str, str | None]

    def has(self, field: str) -> bool:
        """Whether the field can be read in this database."""
        return field not in self.absent

    def table(self, entity: str) -> sql.Identifier:
        """An entity's table, qualified, for a query."""
        return self.tables[entity].identifier

    def column(self, field: str) -> sql.Identifier:
        """A column's name for a query (qualify it with the table's alias)."""
        return sql.Identifier(self.columns[field])

    def physical(self, field: str) -> str:
        """Where a field lives, as 'table.column' (or the table for a table field)."""
        entity, _, name = field.partition(".")
        table = self.tables[entity].name if entity in self.tables else "?"
        return table if name == "table" else f"{table}.{self.columns.get(field, '?')}"

    def gaps(self, fields: Iterable[str]) -> list[Gap]:
        """Why these fields cannot be read (empty when all can), blocking gaps first."""
        found = dict.fromkeys(self.absent[field] for field in fields if field in self.absent)
        return sorted(found, key=lambda gap: not gap.blocks)

    def describe(self) -> dict[str, object]:
        """The map as the report's metadata says it."""
        return {
            "profile": self.profile.name, "detected": self.detected,
            "tables": {entity: f"{rel.schema}.{rel.name}" for entity, rel in self.tables.items()},
            "overrides": dict(self.overrides),
        }


def detect(catalog: Catalog, overrides: Mapping[str, str | None]) -> Profile:
    """The profile whose signature the database shows (the desk's layouts differ in few columns),
    looked for under the names tradewatch_schema gives (a renamed broker id column, say)."""
    def named(field: str, default: str) -> str:
        # 'FIELD = -' says what the rules may not read, not what the database holds: the default
        # name stays the sign to look for.
        return overrides.get(field) or default

    positions_name = named("positions.table", "positions")
    orders_name = named("orders.table", "orders")
    positions = catalog.find(positions_name)
    orders = catalog.find(orders_name)
    if positions is None:
        raise SchemaMapError([
            f"cannot tell the layout: no table {positions_name} in "
            f"schemas {', '.join(catalog.search_path) or '(none)'}; set tradewatch_profile and "
            "tradewatch_schema (see the README's 'Your schema')"
        ])
    if orders is None and overrides.get("orders.table"):
        # A misspelt table name is no sign of the Hong Kong desk, which keeps no orders at all.
        raise SchemaMapError([
            f"cannot tell the layout: orders.table names no table {orders_name} in schemas "
            f"{', '.join(catalog.search_path) or '(none)'}; correct it, or set tradewatch_profile"
        ])
    if orders is not None and "alpaca_order_id" in orders.columns:
        return CATALYST_2025_12
    # The December layout finds symbols through securities; every later one writes them on the row.
    if named("positions.symbol", "symbol") not in positions.columns:
        return CATALYST_2025_12
    if orders is None:
        return CATALYST_INTERNATIONAL  # The Hong Kong desk keeps no orders at all.
    broker_id = named("orders.broker_id", "broker_order_id")
    if broker_id in orders.columns:
        purpose = named("orders.purpose", "order_purpose")
        return CATALYST_2026_04 if purpose in orders.columns else CATALYST_2026_02
    raise SchemaMapError([
        f"cannot tell the layout: {orders.name} has neither alpaca_order_id nor "
        f"{broker_id}; set tradewatch_profile and map the columns in tradewatch_schema"
    ])


# The types information_schema names that each kind of field may hold.
NUMBERS = frozenset({"smallint", "integer", "bigint", "numeric", "real", "double precision"})
TIMES = frozenset({"timestamp with time zone", "timestamp without time zone"})
ALLOWED = {"number": NUMBERS, "time": TIMES, "date": frozenset({"date"})}
# Types one equality compares across: a reference and its key must share a family.
TEXTS = frozenset({"text", "character varying", "character"})


def _family(data_type: str) -> str:
    """The family a type compares within (number, text), else the type itself."""
    return "number" if data_type in NUMBERS else "text" if data_type in TEXTS else data_type


def _mistyped(
    tables: Mapping[str, Relation], columns: Mapping[str, str], where: str,
) -> list[tuple[str, str]]:
    """Mapped columns whose type the rules cannot compare as they must, each with why."""
    found = []
    for field, column in columns.items():
        holds = BY_NAME[field].holds
        relation = tables[field.partition(".")[0]]
        data_type = relation.type_of(column)
        if holds is None or data_type is None:
            continue
        if holds in ALLOWED:
            if data_type not in ALLOWED[holds]:
                found.append((field, f"{field}: column {column} of {relation.name} is {data_type}, "
                                     f"not {BY_NAME[field].type_about} {where}"))
        elif holds in columns:
            key = tables[holds.partition(".")[0]]
            key_type = key.type_of(columns[holds])
            if key_type is not None and _family(key_type) != _family(data_type):
                found.append((field, f"{field}: column {column} of {relation.name} is {data_type}, but "
                                     f"{key.name}.{columns[holds]}, the {holds} it refers to, is {key_type} "
                                     f"{where}"))
    return found


def parse_overrides(lines: Iterable[str]) -> dict[str, str | None]:
    """Lines 'orders.broker_id = broker_ref' (or '= -' for none) as {field: name or None}."""
    overrides, problems = _overrides(lines)
    if problems:
        raise SchemaMapError(problems)
    return overrides


def _overrides(lines: Iterable[str]) -> tuple[dict[str, str | None], list[str]]:
    """The overrides that parse, and a line for each that does not."""
    overrides: dict[str, str | None] = {}
    problems = []
    for line in lines:
        field, equals, name = (part.strip() for part in line.partition("="))
        if not equals or not name:
            problems.append(f"{line.strip()}: expected FIELD = NAME (or FIELD = - for none)")
        elif field not in FIELD_NAMES:
            problems.append(f"{field}: no such field; fields are listed in the README's 'Your schema'")
        elif field in overrides and overrides[field] != (None if name == NONE else name):
            problems.append(f"{field}: set twice, to {overrides[field] or NONE} and to {name}")
        else:
            overrides[field] = None if name == NONE else name
    return overrides, problems


def resolve(
    catalog: Catalog, profile_name: str, override_lines: Iterable[str],
    vocabulary_lines: Iterable[str] = (), market: Callable[[Market], Market] | None = None,
) -> SchemaMap:
    """Pick the profile, apply the overrides, and check every mapped name against the catalog."""
    # Every problem is found in one pass: a line that does not parse does not hide a wrong name.
    overrides, problems = _overrides(override_lines)
    if profile_name == AUTO:
        try:
            profile, detected = detect(catalog, overrides), True
        except SchemaMapError as exc:
            raise SchemaMapError([*problems, *exc.problems]) from None
    elif profile_name in PROFILES:
        profile, detected = PROFILES[profile_name], False
    else:
        raise SchemaMapError([f"profile {profile_name!r}: expected auto or one of {', '.join(PROFILES)}"])
    names = {**profile.names, **overrides}
    tables: dict[str, Relation] = {}
    columns: dict[str, str] = {}
    absent: dict[str, Gap] = {}
    where = f"(profile {profile.name})"
    for entity in ENTITIES:
        table_field = f"{entity}.table"
        table_name = names[table_field]
        relation = catalog.find(table_name) if table_name else None
        if table_name is None:
            absent[table_field] = Gap(f"the {profile.name} layout has no {entity} table")
        elif relation is None:
            if table_field in overrides:
                problems.append(f"{table_field}: no table {table_name} {where}")
            absent[table_field] = Gap(f"no table {table_name} {where}", BY_NAME[table_field].required)
        else:
            tables[entity] = relation
        for field in (f for f in FIELD_NAMES if f.startswith(f"{entity}.") and f != table_field):
            column = names[field]
            if table_field in absent:
                absent[field] = absent[table_field]
            elif column is None:
                absent[field] = Gap(f"the {profile.name} layout has no {field}")
            elif column not in relation.columns:  # type: ignore[union-attr]
                reason = f"{field}: no column {column} in {table_name} {where}"
                if field in overrides:
                    problems.append(reason)
                # The layout says the column is there: a rule that needs it cannot see, an error
                # (a renamed or hidden column must not turn checks off). 'FIELD = -' says it has none.
                absent[field] = Gap(reason, blocks=True)
            else:
                columns[field] = column
    for field, reason in _mistyped(tables, columns, where):
        # The rules comparing it would fail on every row: they error with this reason instead.
        if field in overrides:
            problems.append(reason)
        absent[field] = Gap(reason, blocks=True)
        del columns[field]
    try:
        words = profile.vocabulary.with_overrides(vocabulary_lines)
    except VocabularyError as exc:
        problems.append(str(exc))
        words = profile.vocabulary
    if problems:
        raise SchemaMapError(problems)
    return SchemaMap(profile, detected, tables, columns, absent, words,
                     market(profile.market) if market is not None else profile.market,
                     overrides)

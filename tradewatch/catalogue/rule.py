"""A rule: one invariant, declared once, from which its test, docs and benchmark are derived."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import sql

from tradewatch import market_hours
from tradewatch.findings import Finding, Severity
from tradewatch.fixes import FixData, Source, update_row
from tradewatch.schema_map.profiles import CATALYST_2025_12
from tradewatch.schema_map.resolve import SchemaMap
from tradewatch.vocabulary import CANONICAL

if TYPE_CHECKING:
    import psycopg

    from tradewatch.broker import BrokerSnapshot
    from tradewatch.catalogue.scope import Scope
    from tradewatch.schema_map.catalog import Catalog
    from tradewatch.settings import Settings

Row = Mapping[str, Any]
Predicate = Callable[["Scope", "Context"], sql.Composable]


@dataclass(frozen=True)
class Context:
    """What a rule may know of the run: the schema map, the as-of time, the settings."""

    map: SchemaMap
    as_of: datetime
    settings: Settings
    # Per-rule threshold settings: rule name -> {setting name: value}.
    rule_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # When the run happens: a stored moment after it (and after as-of) no clock wrote.
    wall_clock: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def latest_real(self) -> datetime:
        """The latest moment a stored time can honestly hold: as-of or the wall clock, whichever is later."""
        return max(self.as_of, self.wall_clock)

    @functools.cached_property
    def broker_since(self) -> datetime:
        """Where the broker's recent orders and fills start: the open of the previous trading session
        (a whole session back even just after an open); a day back where the calendar cannot tell."""
        try:
            return market_hours.previous_session_open(self.as_of, self.map.market.calendar)
        except ValueError:
            return self.as_of - timedelta(days=1)

    def threshold(self, rule: str, name: str) -> float:
        """A threshold as this rule uses it: its own setting, else the run's."""
        own = self.rule_thresholds.get(rule, {})
        return float(own[name]) if name in own else float(getattr(self.settings, name))

    def translated(self, fix: FixData | None) -> FixData | None:
        """A fix written in the December layout's names (the reconciliation's), in this layout's;
        None when this layout lacks a column it sets or guards."""
        if fix is None:
            return None
        entity = DECEMBER_ENTITIES.get(fix.table)
        if entity is None:
            return None
        fields = _december_fields(entity)

        def logical(values: Mapping[str, Any]) -> dict[str, Any] | None:
            named = {fields.get(column): value for column, value in values.items()}
            return None if None in named else {str(name): value for name, value in named.items()}

        key, guard, changes = logical(fix.key), logical(fix.guard), logical(fix.set)
        if key is None or guard is None or changes is None or "id" not in key:
            return None
        # What this layout cannot hold (an expiry time, say) is left out; the rest still repairs.
        changes = {name: value for name, value in changes.items() if self.map.has(f"{entity}.{name}")}
        now = tuple(fields[column] for column in fix.set_now if column in fields)
        changes = self._written(entity, changes)
        if not changes:
            return None
        return self.fix(entity, key["id"], guard=guard, changes=changes, now=now, source=fix.source)

    def _written(self, entity: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Values of vocabulary columns, as the December layout spells them, as this layout writes
        them (its stand-in where it has no word); None when it cannot record one: no fix then."""
        words = self.map.vocabulary
        written = dict(changes)
        for name, value in changes.items():
            column = f"{entity}.{name}"
            if column in CANONICAL:
                meaning = CATALYST_2025_12.vocabulary.canonical(column, value)
                written[name] = None if meaning is None else words.written(column, meaning)
                if written[name] is None:
                    return None
        return written

    def fix(
        self, entity: str, row_id: Any, *, guard: Mapping[str, Any], changes: Mapping[str, Any],
        now: tuple[str, ...] = ("updated_at",), source: Source = "database",
    ) -> FixData | None:
        """A fix of one row, by logical field names; None when the layout lacks a field it sets."""
        smap = self.map
        if not all(smap.has(f"{entity}.{name}") for name in (*guard, *changes)):
            return None

        def physical(values: Mapping[str, Any]) -> dict[str, Any]:
            return {smap.columns[f"{entity}.{name}"]: value for name, value in values.items()}

        return update_row(
            smap.tables[entity].fix_name, physical({"id": row_id}), physical(guard), physical(changes),
            set_now=tuple(smap.columns[f"{entity}.{name}"] for name in now if smap.has(f"{entity}.{name}")),
            source=source,
        )


# The December layout's tables (the reconciliation's fixes name them) and the entities they hold.
DECEMBER_ENTITIES = {"orders": "orders", "positions": "positions", "trading_cycles": "cycles"}


@functools.cache
def _december_fields(entity: str) -> dict[str, str]:
    """The December layout's columns of an entity, by name: the logical field each holds."""
    return {column: field.partition(".")[2] for field, column in CATALYST_2025_12.names.items()
            if column and field.startswith(f"{entity}.")}


class Sources(Protocol):
    """What an evaluated rule may read: each read at most once per run, shared by every rule."""

    ctx: Context

    def catalog(self) -> Catalog:
        """The database's relations and columns."""

    def connection(self) -> psycopg.Connection:
        """The read-only check session."""

    def wanted(self, entity: str, name: str) -> list[Row]:
        """The rows of a table's read that a rule asked for by name (see Rule.wants)."""

    def snapshot(self) -> BrokerSnapshot:
        """The run's one broker snapshot."""

    def record(self, key: str, value: Any) -> None:
        """Put a fact the rule read into the report's run metadata (the pipeline row)."""

    def symbols(self) -> Mapping[Any, str]:
        """Every security's symbol by its key."""

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """What compute returns, computed on the run's first ask for key and shared after."""


@dataclass(frozen=True)
class Rule:
    """An invariant: the finding it reports, its cases, what it reads and what it needs."""

    name: str
    check: str  # the test function in checks/test_<module>.py
    module: str
    findings: tuple[str, ...]
    severity: Severity
    reads: str  # the logical table it reads once per run, or 'schema' / 'broker'
    about: str  # what it checks, one line (the README's table)
    cases: tuple[str, ...] = ()
    cases_about: str = ""
    needs: tuple[str, ...] = ()  # logical fields it cannot do without
    # Fields it reads where the layout has them; one the layout declares but the database lacks
    # is an error (it would read as NULL), one the layout has not leaves the rule applicable.
    uses: tuple[str, ...] = ()
    # Per case, the fields it needs and the vocabulary values the layout must have.
    case_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    case_values: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # A further condition on the layout: None when it holds, else why the rule does not apply.
    requires: Callable[[SchemaMap], str | None] | None = None
    # Per case, the setting that turns it on (a limit that is off unless set).
    case_settings: Mapping[str, str] = field(default_factory=dict)
    # Rows other than its findings it reads from a table's one read: {entity: {name: predicate}}.
    wants: Mapping[str, Mapping[str, Predicate]] = field(default_factory=dict)
    time_based: bool = False
    thresholds: tuple[str, ...] = ()  # the run settings it reads
    # Details that change every run (minutes waited): left out of what an acknowledgement pins.
    volatile: tuple[str, ...] = ()
    broker: bool = False  # compares with the broker

    @property
    def nodeids(self) -> list[str]:
        """Its tests' node ids under checks/, as pytest names them."""
        base = f"test_{self.module}.py::{self.check}"
        return [f"{base}[{case}]" for case in self.cases] if self.cases else [base]


@dataclass(frozen=True)
class RowRule(Rule):
    """A rule judged on each row of its table's one read: a SQL predicate and a row's finding."""

    predicate: Predicate | None = None
    case_of: Predicate | None = None  # the case of a flagged row (text)
    cases_of: Predicate | None = None  # or its cases, when a row can break several (text[])
    finding: Callable[[Row, str | None, Context], Finding] | None = None


@dataclass(frozen=True)
class EvaluatedRule(Rule):
    """A rule judged in Python on what the run read (the catalog, a table's read, the broker)."""

    evaluate: Callable[[Sources, str | None], Sequence[Finding]] | None = None

"""The desk's later layouts as the self-tests load and judge them: fixtures/layouts/PROFILE/ (schema.sql,
clean.sql, defects/NAME.sql), the moment each clean desk is checked at, the checks that do not
apply to it, and how a run's report is held against what a seed must show."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg import sql

from tests.pg import ScratchServer, dbname, run_sql_file
from tradewatch import catalogue
from tradewatch.findings import ENTITY_KEYS
from tradewatch.schema_map.profiles import PROFILES, Profile
from tradewatch.vocabulary import CANONICAL

LAYOUTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "layouts"
Found = dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """One layout's fixtures, the moment its clean desk is checked at, and what does not apply to it."""

    profile: str
    as_of: str  # in a session of the layout's market
    trading_date: str
    today_cycle: str  # the cycle the pipeline shows on the clean desk
    # The checks that do not apply: by rule (every case) or 'rule[case]', each with a text its reason holds.
    not_applicable: Mapping[str, str]

    @property
    def folder(self) -> Path:
        """fixtures/layouts/PROFILE."""
        return LAYOUTS_DIR / self.profile

    @property
    def schema(self) -> Path:
        """The layout's tables, written from REAL-SCHEMAS.md."""
        return self.folder / "schema.sql"

    @property
    def clean(self) -> Path:
        """The healthy desk."""
        return self.folder / "clean.sql"

    def defect(self, name: str) -> Path:
        """A seed that changes one thing of the clean desk."""
        return self.folder / "defects" / f"{name}.sql"

    @property
    def defects(self) -> list[str]:
        """The names of every defect seed in the layout's folder."""
        return sorted(path.stem for path in (self.folder / "defects").glob("*.sql"))

    @property
    def profile_of(self) -> Profile:
        """The tradewatch profile of this layout."""
        return PROFILES[self.profile]

    def expected_not_applicable(self) -> dict[str, str]:
        """Every check that must be skipped as not applicable, by node id under checks/."""
        expanded = {}
        for name, reason in self.not_applicable.items():
            rule_name, _, case = name.partition("[")
            rule = catalogue.BY_NAME[rule_name]
            ids = [nodeid for nodeid in rule.nodeids if not case or nodeid.endswith(f"[{case}")]
            assert ids, name
            expanded.update(dict.fromkeys(ids, reason))
        return expanded


_NOT_MIGRATED = "layout is not migrated by tradewatch (Phase 2 is catalyst-2025-12's)"
_SCHEMA_RULES = ("legacy_column_dropped", "phase2_column_present", "pipeline_view_has_its_columns",
                 "pipeline_view_runs")
_RISK = {"risk_limits_held[open_positions]": "--max-open-positions is not set",
         "risk_limits_held[position_size]": "--max-position-pct is not set",
         "risk_limits_held[daily_loss]": "--max-daily-loss-pct is not set"}


def _status(profile: str, *statuses: str) -> dict[str, str]:
    return {f"no_stuck_orders[{status}]": f"the {profile} layout has no orders.status meaning {status!r}"
            for status in statuses}


LAYOUTS = {
    layout.profile: layout for layout in (
        Layout(
            "catalyst-2026-02", "2026-02-10T11:00:00-05:00", "2026-02-10", "20260210-093000", {
                **dict.fromkeys(_SCHEMA_RULES, f"the catalyst-2026-02 {_NOT_MIGRATED}"),
                "order_side_matches_purpose": "the catalyst-2026-02 layout has no orders.purpose",
                "order_purpose_set": "the catalyst-2026-02 layout has no orders.purpose",
                **_status("catalyst-2026-02", "created", "pending_new", "accepted", "new"),
                "client_order_ids_unique": "the catalyst-2026-02 layout has no orders.client_id",
                "running_cycle_fresh": "the catalyst-2026-02 layout has no cycles.heartbeat",
                **_RISK,
            },
        ),
        Layout(
            "catalyst-2026-04", "2026-04-15T11:00:00-04:00", "2026-04-15", "20260415-093000", {
                **dict.fromkeys(_SCHEMA_RULES, f"the catalyst-2026-04 {_NOT_MIGRATED}"),
                **_status("catalyst-2026-04", "created", "pending_new"),
                "client_order_ids_unique": "the catalyst-2026-04 layout has no orders.client_id",
                "running_cycle_fresh": "the catalyst-2026-04 layout has no cycles.heartbeat",
                **_RISK,
            },
        ),
        Layout(
            "catalyst-international", "2026-03-03T11:00:00+08:00", "2026-03-03", "4", {
                **dict.fromkeys(_SCHEMA_RULES, f"the catalyst-international {_NOT_MIGRATED}"),
                **dict.fromkeys(
                    ("order_side_matches_purpose", "order_purpose_set", "no_stuck_orders",
                     "order_linked_to_position", "order_status_known", "order_side_known",
                     "client_order_ids_unique"), "the catalyst-international layout has no orders table"),
                "running_cycle_fresh[active]":
                    "the catalyst-international layout has no cycles.status meaning 'active'",
                "running_cycle_fresh[paused]":
                    "the catalyst-international layout has no cycles.status meaning 'paused'",
                # Every broker check, whatever the layout's tables: the desk's broker is not Alpaca.
                **dict.fromkeys(
                    (rule.name for rule in catalogue.RULES if rule.broker),
                    "the catalyst-international desk trades through moomoo, not Alpaca"),
            },
        ),
    )
}
ALPACA_LAYOUTS = tuple(name for name, layout in LAYOUTS.items() if layout.profile_of.broker == "alpaca")


# Per server, the database of each layout's clean desk that fresh ones are copied from.
_TEMPLATES: WeakKeyDictionary[ScratchServer, dict[str, str]] = WeakKeyDictionary()


def layout_database(server: ScratchServer, layout: Layout, *defects: str) -> str:
    """A fresh database of the layout's clean desk with these defect seeds loaded on it, in order."""
    templates = _TEMPLATES.setdefault(server, {})
    if layout.profile not in templates:
        made = server.create()
        run_sql_file(made, layout.schema)
        run_sql_file(made, layout.clean)
        templates[layout.profile] = dbname(made)
    url = server.create(template=templates[layout.profile])
    for defect in defects:
        run_sql_file(url, layout.defect(defect))
    return url


def found(type_: str, severity: str, **keys: Any) -> Found:
    """A finding as a report must carry it: its type, severity and entity keys."""
    return {"type": type_, "severity": severity, **keys}


def essentials(finding: Mapping[str, Any]) -> Found:
    """The part of a reported finding a seed pins down: type, severity, entity keys."""
    return {key: finding[key] for key in ("type", "severity", *ENTITY_KEYS) if key in finding}


def checks_in(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A report's checks by node id under checks/."""
    return {test["nodeid"].removeprefix("checks/"): test for test in report["tests"]
            if test["outcome"] != "deselected"}


@dataclass(frozen=True)
class Expected:
    """What a run on one layout must report: the failing and INFO checks with all their findings;
    every other check passes, or is not applicable with its reason."""

    layout: Layout
    failed: Mapping[str, list[Found]] = field(default_factory=dict)
    info: Mapping[str, list[Found]] = field(default_factory=dict)
    pipeline: bool = True  # whether the run's pipeline shows the clean desk's cycle of today

    def check(self, report: Mapping[str, Any]) -> None:
        """Assert every check's outcome, findings and reasons, and the pipeline, in a report."""
        tests = checks_in(report)
        not_applicable = self.layout.expected_not_applicable()
        named = {*self.failed, *self.info}
        assert named <= tests.keys(), f"no such checks: {sorted(named - tests.keys())}"
        for name, test in tests.items():
            metadata = test.get("metadata", {})
            outcome = ("failed" if name in self.failed else
                       "skipped" if name in not_applicable else "passed")
            assert (name, test["outcome"]) == (name, outcome), metadata.get("error") or metadata
            if name in not_applicable:
                assert not_applicable[name] in metadata["not_applicable"], (name, metadata)
                continue
            expected = self.failed.get(name) or self.info.get(name) or []
            assert [essentials(f) for f in metadata["findings"]] == expected, name
            assert metadata["finding_count"] == len(expected), name
        listed = {entry["check"].removeprefix("checks/"): entry["reason"]
                  for entry in report["tradewatch"]["not_applicable"]}
        ran = {name for name in tests if name in not_applicable}
        assert listed == {name: tests[name]["metadata"]["not_applicable"] for name in ran}
        pipeline = report["tradewatch"].get("pipeline")
        if self.pipeline:
            assert pipeline is not None
            assert (pipeline["cycle_id"], pipeline["cycle_date"]) == (
                self.layout.today_cycle, self.layout.trading_date)
        else:
            assert pipeline is None


def nodeid(rule_name: str, case: str | None = None) -> str:
    """A check's node id under checks/, from its rule and case."""
    rule = catalogue.BY_NAME[rule_name]
    base = f"test_{rule.module}.py::{rule.check}"
    return f"{base}[{case}]" if case else base


# --- fixes, replayed and rolled back -------------------------------------------------------------

# What a database fix sets on the row it repairs, besides its timestamps.
INTENDED: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "WRONG_ORDER_SIDE": lambda finding: {"side": finding["details"]["expected_side"]},
    "UNKNOWN_ORDER_STATUS": lambda finding: {"status": finding["details"]["suggested_status"]},
    "UNKNOWN_VALUE": lambda finding: {finding["column"]: finding["details"]["suggested_value"]},
}
TIMESTAMPS = {"updated_at", "expired_at", "cancelled_at"}
Rows = dict[tuple[str, Any], dict[str, Any]]


def keyed_tables(profile: Profile) -> dict[str, str]:
    """The profile's tables by name, each with its key column."""
    return {str(profile.names[f"{entity}.table"]): str(profile.names[f"{entity}.id"])
            for entity in ("securities", "positions", "orders", "cycles")
            if profile.names[f"{entity}.table"]}


def rows(conn: psycopg.Connection, profile: Profile) -> Rows:
    """Every row of the profile's tables, as JSON objects by (table, key)."""
    found: Rows = {}
    for table, key in keyed_tables(profile).items():
        query = sql.SQL("SELECT {}, to_jsonb(t) FROM {} AS t").format(
            sql.Identifier(key), sql.Identifier(table))
        for row_key, row in conn.execute(query):
            found[(table, row_key)] = row
    return found


Changes = dict[tuple[str, Any], dict[str, tuple[Any, Any]]]


def replay_fix(url: str, profile: Profile, statement: str) -> tuple[int, Changes]:
    """Run a finding's fix as the owner in a transaction, rolled back: its row count, and the
    columns it changed on each row (old, new)."""
    with psycopg.connect(url) as conn:
        try:
            before = rows(conn, profile)
            count = conn.execute(statement).rowcount
            after = rows(conn, profile)
        finally:
            conn.rollback()
    changed: Changes = {}
    for row_key in before.keys() | after.keys():
        old, new = before.get(row_key) or {}, after.get(row_key) or {}
        columns = {column: (old.get(column), new.get(column)) for column in old.keys() | new.keys()
                   if old.get(column) != new.get(column)}
        if columns:
            changed[row_key] = columns
    return count, changed


def assert_fix_exact(url: str, profile: Profile, finding: Mapping[str, Any]) -> None:
    """A finding's fix, replayed, changes its own row as intended and nothing else, and every value
    it writes to a vocabulary column is one the layout knows."""
    fix = finding["fix_data"]
    row = (fix["table"], next(iter(fix["key"].values())))
    count, changed = replay_fix(url, profile, finding["fix"])
    assert count == 1, finding["fix"]
    assert list(changed) == [row], finding["fix"]
    columns = changed[row]
    assert_written_in_layout(profile, fix)
    intended = INTENDED[finding["type"]](finding) if finding["type"] in INTENDED else {
        column: columns[column][1] for column in fix["set"]}
    assert set(columns) <= set(intended) | TIMESTAMPS, finding["fix"]
    assert {column: columns[column][1] for column in intended} == intended, finding["fix"]


def assert_written_in_layout(profile: Profile, fix: Mapping[str, Any]) -> None:
    """Every value a fix sets on a vocabulary column is one the layout's vocabulary holds."""
    entity = {str(profile.names[f"{e}.table"]): e for e in ("positions", "orders", "cycles")}[fix["table"]]
    for field_name, column in profile.names.items():
        if field_name.startswith(f"{entity}.") and field_name in CANONICAL and column in fix["set"]:
            assert fix["set"][column] in profile.vocabulary.stored(field_name), (field_name, fix)

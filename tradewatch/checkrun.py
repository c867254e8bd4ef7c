"""One checks run: the session, the schema map, one read per table and one broker snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from tradewatch import (
    acks,
    broker_plugin,
    catalogue,
    db,
    deadline,
    demo,
    market_hours,
    reads,
    rule_settings,
    text,
)
from tradewatch.catalogue import desk
from tradewatch.catalogue.rule import Context, EvaluatedRule, Predicate, Row, RowRule, Rule
from tradewatch.errors import CheckCannotRun
from tradewatch.findings import Finding, jsonable
from tradewatch.judging import Judge
from tradewatch.reads import ReadResult, Slice
from tradewatch.reconcile.grace import aware
from tradewatch.schema_map import catalog as catalog_read
from tradewatch.schema_map.catalog import Catalog
from tradewatch.schema_map.profiles import Market
from tradewatch.schema_map.resolve import SchemaMap, SchemaMapError, resolve
from tradewatch.settings import SPECS, Settings
from tradewatch.watched import DatabaseRequired, WatchedDatabase, open_watched

if TYPE_CHECKING:
    from tradewatch.broker import BrokerSnapshot


@dataclass
class Verdict:
    """What one check (a rule and a case) came to: findings, not applicable, skipped or an error."""

    rule: Rule
    case: str | None
    found: Slice | None = None
    error: str | None = None
    not_applicable: str | None = None
    skipped: str | None = None

    @property
    def failing(self) -> list[Finding]:
        """The kept findings that fail the check (INFO and acknowledged ones do not)."""
        return [finding for finding in self.found.findings if finding.fails] if self.found else []

    @property
    def fails(self) -> int:
        """How many findings fail the check, kept or not."""
        return self.found.failing if self.found else 0


class RunCannotStart(RuntimeError):
    """The run cannot look at anything: no database, or a schema map that does not fit it."""

    def __init__(self, message: str, problems: Collection[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)  # each problem, when there are several to list one a line


def start(settings: Settings, root: Path, record_mode: str = "none") -> CheckRun:
    """Open the watched database, read its catalog, map its schema and plan the broker: the run's state."""
    try:
        watched = open_watched(settings)
    except (db.DatabaseUnreachable, DatabaseRequired) as exc:
        raise RunCannotStart(str(exc)) from None
    except psycopg.Error as exc:
        # Reached, then lost while the session was being set up (a link that stops relaying).
        raise RunCannotStart(f"the database session was lost at start: {one_line(exc)}") from None
    try:
        return _started(settings, root, record_mode, watched)
    except BaseException:
        # Whatever stops the start (a refusal, the deadline, Ctrl-C): the session and the
        # embedded server go with it.
        watched.close()
        raise


def _started(settings: Settings, root: Path, record_mode: str, watched: WatchedDatabase) -> CheckRun:
    """The run's state on an open watched database: its map, settings and broker plan."""
    try:
        with watched.conn.transaction():
            found = catalog_read.read(watched.conn)
        smap = resolve(found, settings.profile, settings.schema_overrides, settings.vocabulary_overrides,
                       settings.market)
    except SchemaMapError as exc:
        said = "the schema map does not fit: " + "; ".join(exc.problems)
        raise RunCannotStart(said, exc.problems) from None
    except market_hours.UnknownCalendar as exc:
        raise RunCannotStart(f"market_calendar: {exc}", [f"market_calendar: {exc}"]) from None
    except psycopg.Error as exc:
        raise RunCannotStart(f"cannot read the schema: {one_line(exc)}") from None
    if watched.demo:
        settings = dataclasses.replace(
            settings,
            max_open_positions=settings.max_open_positions or demo.DEMO_MAX_OPEN_POSITIONS,
            max_position_pct=settings.max_position_pct or demo.DEMO_MAX_POSITION_PCT,
            max_daily_loss_pct=settings.max_daily_loss_pct or demo.DEMO_MAX_DAILY_LOSS_PCT,
        )
    try:
        rules = rule_settings.parse(settings.rules)
        known = acks.load(root / settings.known_findings) if settings.known_findings else {}
    except (rule_settings.RuleSettingError, acks.AckError) as exc:
        raise RunCannotStart(f"the settings do not hold: {exc}") from None
    plan = broker_plugin.plan(settings, record_mode, watched.demo, root)
    run = CheckRun(settings, watched, smap, found, rules=rules, known=known,
                   broker_skipped=plan.reason if plan.mode == "skipped" else None)
    feed = broker_plugin.BrokerFeed(plan, settings, watched.as_of, lambda: run.ctx.broker_since)
    run.snapshot_source = feed.take
    run.metadata["broker"] = plan.describe(root)
    return run


def _before(moment: Any, since: datetime) -> bool:
    """Whether a stored time is known and earlier than since (a naive one is UTC, as the session)."""
    return isinstance(moment, datetime) and aware(moment) < since


def one_line(exc: BaseException) -> str:
    """Why something could not be read, in one line (a server's primary message when it gave one)."""
    diag = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
    reason = diag or (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
    return f"{type(exc).__name__}: {reason}" if isinstance(exc, psycopg.Error) else reason


@dataclass
class CheckRun:
    """Everything the checks of one run share; each table is read once, the broker asked once."""

    settings: Settings
    watched: WatchedDatabase
    map: SchemaMap
    catalog_: Catalog
    snapshot_source: Callable[[list[tuple[str, str]]], BrokerSnapshot] | None = None
    selected: Collection[str] = ()  # rule names of the collected checks (all when empty)
    broker_skipped: str | None = None  # why the broker is not compared, when it is not configured
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by test node id
    rules: rule_settings.RuleSettings = field(default_factory=rule_settings.RuleSettings)
    known: dict[str, acks.Ack] = field(default_factory=dict)  # acknowledged findings by fingerprint
    metadata: dict[str, Any] = field(default_factory=dict)  # what rules recorded for the report
    _reads: dict[str, ReadResult | BaseException] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)  # further reads rules share (once)
    _snapshot: BrokerSnapshot | BaseException | None = None
    _symbols: dict[Any, str] | None = None
    run_deadline: deadline.RunDeadline | None = None  # each check is bounded by what is left of it
    _locks_limited: bool = False

    def __post_init__(self) -> None:
        self.ctx = Context(self.map, self.watched.as_of, self.settings, self.rules.thresholds)
        calendar = self.map.market.calendar
        self.judge = Judge(self.watched.as_of, lambda moment: market_hours.in_session(moment, calendar),
                           self.rules, self.known, zone=self.map.market.zone)

    # --- Sources: what evaluated rules read --------------------------------------------------

    def catalog(self) -> Catalog:
        """The database's relations and columns, read when the run started."""
        return self.catalog_

    def connection(self) -> psycopg.Connection:
        """The read-only check session."""
        return self.watched.conn

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """What compute returns, computed on the run's first ask for key and shared after."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def record(self, key: str, value: Any) -> None:
        """Keep a fact a rule read for the report's run metadata (as strict JSON values)."""
        self.metadata[key] = jsonable(value)

    def wanted(self, entity: str, name: str) -> list[Row]:
        """Rows a rule asked of a table's read."""
        return self.read(entity).wanted[name]

    def snapshot(self) -> BrokerSnapshot:
        """The run's one broker snapshot, taken on first use; a failure is kept for every later ask."""
        if self._snapshot is None:
            if self.snapshot_source is None:
                raise CheckCannotRun("no broker configured")
            try:
                self._snapshot = self.snapshot_source(self.db_statuses())
            except Exception as exc:
                self._snapshot = exc
            else:
                self.metadata.setdefault("broker", {}).update(
                    open_orders=sum(1 for order in self._snapshot.orders.values() if order.is_open),
                    open_positions=sum(1 for position in self._snapshot.positions if position.qty != 0))
        if isinstance(self._snapshot, BaseException):
            raise self._snapshot
        return self._snapshot

    def db_statuses(self) -> list[tuple[str, str]]:
        """What the database says of the orders the broker is asked about (its open orders and those
        that ended inside the fills window): (broker id, the status's meaning) of each."""
        since = self.ctx.broker_since
        statuses = []
        # Asked by the order comparisons only: none when they cannot run (a column they need gone).
        asked = self.read("orders").wanted if self.map.has("orders.id") else {}
        for name in ("open_at_broker", "ended_lately"):
            for row in asked.get(name, []):
                meaning = row["status_meaning"] or row["status"] or ""
                # Filled before the window, by the database's own time: no fill of the window can
                # confirm it, so its missing fills are no contradiction worth a request.
                if meaning == "filled" and _before(row.get("filled_at"), since):
                    continue
                statuses.append((row["alpaca_order_id"], meaning))
        return statuses

    # --- reads ------------------------------------------------------------------------------

    def _selected(self, rule: Rule) -> bool:
        return (not self.selected or rule.name in self.selected) and not self.rules.ignored(rule.name)

    def _applies(self, rule: Rule) -> bool:
        cases = rule.cases or (None,)
        return any(not catalogue.gaps(rule, case, self.map) for case in cases)

    def wants(self, entity: str) -> dict[str, Predicate]:
        """What the selected, applicable rules ask of a table's read besides their findings."""
        asked: dict[str, Predicate] = dict(desk.WANTS.get(entity, {}))
        for rule in catalogue.RULES:
            # A skipped broker reads nothing of the database (and needs no window, no calendar).
            if rule.broker and self.broker_skipped is not None:
                continue
            if self._selected(rule) and self._applies(rule):
                asked.update(rule.wants.get(entity, {}))
        return asked

    def row_rules(self, entity: str) -> list[RowRule]:
        """The selected rules judged on a table's read that this layout supports."""
        return [rule for rule in catalogue.row_rules(entity, self.map) if self._selected(rule)]

    def read(self, entity: str) -> ReadResult:
        """A table's one read (taken on first use; a failure is kept and raised for every rule on it)."""
        if entity not in self._reads:
            try:
                self._reads[entity] = reads.run(
                    self.watched.conn, entity, self.row_rules(entity), self.wants(entity), self.ctx,
                    self.judge.settle, self.settings.findings_cap, self.symbols(),
                )
            except psycopg.Error as exc:
                lost = db.session_lost(self.watched.conn)
                self._reads[entity] = (self._session_lost(lost) if lost is not None
                                       else CheckCannotRun(f"cannot read {entity}: {one_line(exc)}"))
            except reads.CatalogueError as exc:
                self._reads[entity] = CheckCannotRun(f"cannot read {entity}: {one_line(exc)}")
        found = self._reads[entity]
        if isinstance(found, BaseException):
            raise found
        return found

    def read_alone(self, rule: RowRule) -> ReadResult:
        """The rule's own query, run alone and afresh: what the shared read must agree with."""
        return reads.run(self.watched.conn, rule.reads, [rule], {}, self.ctx, self.judge.settle,
                         self.settings.findings_cap, self.symbols())

    def symbols(self) -> dict[Any, str]:
        """Every security's symbol by key, read once (the table is small) for all tables' findings."""
        if self._symbols is None:
            self._symbols = reads.read_symbols(self.watched.conn, self.map)
        return self._symbols

    # --- verdicts ---------------------------------------------------------------------------

    def verdict(self, rule: Rule, case: str | None) -> Verdict:
        """Judge one check, within the run's deadline: ignored, not applicable, an error, or its findings."""
        if self.rules.ignored(rule.name):
            return Verdict(rule, case, skipped="ignored: tradewatch_rules sets its severity to ignore")
        if self.run_deadline is not None and self.run_deadline.passed:
            return Verdict(rule, case, error=self.run_deadline.before())  # nothing is asked of anyone
        gaps = catalogue.gaps(rule, case, self.map)
        blocking = [gap.reason for gap in gaps if gap.blocks]
        if blocking:
            return Verdict(rule, case, error=blocking[0])
        if gaps:
            return Verdict(rule, case, not_applicable=gaps[0].reason)
        setting = rule.case_settings.get(case or "")
        if setting is not None and getattr(self.settings, setting) is None:
            option = next(spec.cli for spec in SPECS if spec.name == setting)
            return Verdict(rule, case, not_applicable=f"{option} is not set (the limit is off unless set)")
        if rule.broker and self.broker_skipped is not None:
            return self._broker_skipped(rule, case)
        try:
            with self._failures(), self._in_time():
                self._limit_locks()
                found = self._findings(rule, case)
        except CheckCannotRun as exc:
            return Verdict(rule, case, error=str(exc))
        self.judge.judged(rule, case)  # it looked at all its data: it may say a finding is gone
        return Verdict(rule, case, found=found)

    def _in_time(self) -> AbstractContextManager[Any]:
        """The run's deadline around one check (nothing without one)."""
        return self.run_deadline.bound("this check") if self.run_deadline is not None else nullcontext()

    def _limit_locks(self) -> None:
        """Before the first check reads: a lock another session holds errors a query after the lock
        timeout, rather than holding every check on the table to its statement timeout."""
        if not self._locks_limited:
            self._locks_limited = True
            db.limit_lock_waits(self.watched.conn, self.settings.lock_timeout_s)

    @staticmethod
    def _session_lost(reason: str) -> CheckCannotRun:
        return CheckCannotRun(f"the database session was lost: {reason}")

    def _broker_skipped(self, rule: Rule, case: str | None) -> Verdict:
        """Without broker credentials or a cassette: an error for scheduled jobs, else a skip said once."""
        reason = self.broker_skipped
        if self.settings.require_broker:
            return Verdict(rule, case, error=f"--require-broker is on, but there are {reason}")
        found = Slice(self.settings.findings_cap)
        if not any(verdict.skipped for verdict in self.verdicts.values()):
            found.add(self.judge.settle(rule, Finding(
                "RECONCILIATION_SKIPPED", "INFO", {}, f"broker reconciliation skipped: {reason}",
                details={"reason": reason})))
        return Verdict(rule, case, found=found, skipped=f"broker reconciliation skipped: {reason}")

    def _findings(self, rule: Rule, case: str | None) -> Slice:
        cap = self.settings.findings_cap
        if isinstance(rule, RowRule):
            return self.read(rule.reads).slice(rule.name, case, cap)
        assert isinstance(rule, EvaluatedRule)
        assert rule.evaluate is not None
        found = Slice(cap)
        for finding in rule.evaluate(self, case):
            found.add(self.judge.settle(rule, finding))
        return found

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Every way a check can fail to look becomes CheckCannotRun with one line."""
        try:
            yield
        except CheckCannotRun:
            raise
        except deadline.Expired as exc:  # the run's deadline, passed during this check
            raise CheckCannotRun(exc.message) from None
        except psycopg.Error as exc:
            lost = db.session_lost(self.watched.conn)
            raise (self._session_lost(lost) if lost is not None else CheckCannotRun(one_line(exc))) from None
        except ArithmeticError as exc:  # Decimal's NaN and Infinity refuse to be compared or divided
            raise CheckCannotRun(f"the rule cannot compute with a value it read (NaN or Infinity): "
                                 f"{type(exc).__name__}") from None
        except Exception as exc:  # a value the rule could not handle: an error in one line, not a crash
            raise CheckCannotRun(f"the rule failed on a value it read: {type(exc).__name__}: "
                                 f"{text.shown(db.first_line(exc))}") from None

    def close(self) -> None:
        """Close the session (and stop the embedded demo server)."""
        self.watched.close()

    def describe(self) -> dict[str, Any]:
        """The report metadata of the run's schema and market."""
        market: Market = self.map.market
        read = {entity: found.wanted.get("today") for entity, found in self._reads.items()
                if isinstance(found, ReadResult)}
        described: dict[str, Any] = {"profile": self.map.profile.name, "schema": self.map.describe(),
                                     "desk": desk.figures(read.get("orders"), read.get("positions")),
                                     "market": {"calendar": market.calendar, "zone": market.zone},
                                     **self.metadata}
        complete = set(self.selected) >= {rule.name for rule in catalogue.RULES} and not any(
            verdict.error for verdict in self.verdicts.values())
        described["acknowledgements"] = self.judge.describe(complete)
        if self.rules.severity or self.rules.thresholds:
            described["rules"] = self.rules.describe(
                {name: jsonable(value) for name, value in vars(self.settings).items()})
        if self.judge.asked:
            described["market"]["in_session"] = self.judge.market_open
            if self.judge.calendar_error:
                described["market"]["calendar_error"] = self.judge.calendar_error
        return described

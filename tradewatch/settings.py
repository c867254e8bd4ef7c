"""Every tradewatch setting, declared once and resolved once per run."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from tradewatch.schema_map.profiles import AUTO, PROFILES, Market

# Precedence, highest first: command-line option, environment variable, ini option, default.


class SettingError(ValueError):
    """A setting holds a value that cannot be used."""


def parse_bool(text: str) -> bool:
    """Read a yes/no setting the way shells and ini files write it."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingError(f"expected true/false, got {text!r}")


def parse_timestamp(text: str) -> datetime:
    """Read an ISO-8601 timestamp; one without a zone is taken as UTC."""
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise SettingError(
            f"expected an ISO-8601 timestamp like 2025-12-31T15:45:00-05:00, got {text!r}"
        ) from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_positive_float(text: str) -> float:
    """Read a threshold that must be above zero."""
    try:
        value = float(text)
    except ValueError as exc:
        raise SettingError(f"expected a number, got {text!r}") from exc
    if not 0 < value < float("inf"):  # NaN fails both comparisons
        raise SettingError(f"expected a number above 0, got {text!r}")
    return value


def parse_positive_int(text: str) -> int:
    """Read a count that must be above zero."""
    try:
        value = int(text)
    except ValueError as exc:
        raise SettingError(f"expected a whole number, got {text!r}") from exc
    if value <= 0:
        raise SettingError(f"expected a whole number above 0, got {text!r}")
    return value


def parse_non_negative_float(text: str) -> float:
    """Read a tolerance or a wait that may be zero."""
    try:
        value = float(text)
    except ValueError as exc:
        raise SettingError(f"expected a number, got {text!r}") from exc
    if not value >= 0 or value == float("inf"):
        raise SettingError(f"expected a number of 0 or more, got {text!r}")
    return value


def parse_number(text: str) -> Decimal:
    """Read an amount of money, exactly."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise SettingError(f"expected a number, got {text!r}") from None
    if not value.is_finite():
        raise SettingError(f"expected a finite number, got {text!r}")
    return value


def parse_optional_positive_int(text: str) -> int | None:
    """Read a limit that is off when empty."""
    return parse_positive_int(text) if text.strip() else None


def parse_optional_positive_float(text: str) -> float | None:
    """Read a percentage limit that is off when empty."""
    return parse_positive_float(text) if text.strip() else None


def parse_text(text: str) -> str | None:
    """Read free text; empty means unset."""
    return text.strip() or None


def parse_profile(text: str) -> str:
    """Read a schema layout: auto or a profile's name."""
    name = text.strip()
    if name != AUTO and name not in PROFILES:
        raise SettingError(f"expected auto or one of {', '.join(PROFILES)}, got {text!r}")
    return name


def parse_lines(lines: str | list[str]) -> tuple[str, ...]:
    """Read a list of lines (an ini linelist), blank ones and '#' comments left out."""
    items = lines if isinstance(lines, list) else str(lines).splitlines()
    return tuple(line.strip() for line in items if line.strip() and not line.strip().startswith("#"))


def parse_zone(text: str) -> str | None:
    """Read an IANA time zone name such as America/New_York; empty means the layout's own."""
    name = text.strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"expected a time zone like America/New_York or Asia/Hong_Kong, got {text!r}") \
            from None
    return name


@dataclass(frozen=True)
class SettingSpec:
    """Where one setting may come from, its default and how to read it."""

    name: str
    help: str
    parse: Callable[[str], Any]
    default: str | None = None
    ini: str | None = None
    cli: str | None = None
    env: str | None = None
    flag: bool = False
    ini_type: str = "string"  # or "linelist": one entry per line


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "database_url",
        "libpq URL of the watched database; unset runs the embedded demo database",
        parse_text,
        cli="--database-url",
        env="DATABASE_URL",
    ),
    SettingSpec(
        "require_database",
        "refuse to fall back to the embedded demo database (for scheduled jobs)",
        parse_bool,
        default="false",
        ini="tradewatch_require_database",
        cli="--require-database",
        env="TRADEWATCH_REQUIRE_DATABASE",
        flag=True,
    ),
    SettingSpec(
        "require_broker",
        "make the broker checks errors, not skips, when no credentials or cassette are given "
        "(for scheduled jobs)",
        parse_bool,
        default="false",
        ini="tradewatch_require_broker",
        cli="--require-broker",
        env="TRADEWATCH_REQUIRE_BROKER",
        flag=True,
    ),
    SettingSpec(
        "statement_timeout_s",
        "seconds one check query may run before it is cancelled",
        parse_positive_float,
        default="30",
        ini="tradewatch_statement_timeout",
        cli="--statement-timeout",
        env="TRADEWATCH_STATEMENT_TIMEOUT",
    ),
    SettingSpec(
        "profile",
        "the schema layout: auto (detected from information_schema) or one of the profiles in "
        "the README's 'Your schema'",
        parse_profile,
        default="auto",
        ini="tradewatch_profile",
        cli="--profile",
        env="TRADEWATCH_PROFILE",
    ),
    SettingSpec(
        "schema_overrides",
        "single table or column names that differ from the profile, one 'FIELD = NAME' per line "
        "('FIELD = -': the layout has none)",
        parse_lines,
        ini="tradewatch_schema",
        ini_type="linelist",
    ),
    SettingSpec(
        "vocabulary_overrides",
        "vocabulary changes, one per line: 'COLUMN = VALUES' replaces, '+=' adds, '-=' removes; "
        "STORED=MEANING maps a spelling",
        parse_lines,
        ini="tradewatch_vocabulary",
        ini_type="linelist",
    ),
    SettingSpec(
        "rules",
        "per-rule settings, one rule a line: 'RULE: severity=CRITICAL|WARNING|INFO|ignore' and the "
        "rule's thresholds ('no_stuck_orders: severity=CRITICAL stuck_order_minutes=10')",
        parse_lines,
        ini="tradewatch_rules",
        ini_type="linelist",
    ),
    SettingSpec(
        "known_findings",
        "the file of acknowledged findings (relative to the rootdir), reviewed like code; see "
        "`tradewatch ack`",
        parse_text,
        default="known-findings.toml",
        ini="tradewatch_known_findings",
        cli="--known-findings",
        env="TRADEWATCH_KNOWN_FINDINGS",
    ),
    SettingSpec(
        "market_calendar",
        "the exchange calendar of the time-based checks (exchange-calendars name); default: the "
        "layout's (XNYS; XHKG for catalyst-international)",
        parse_text,
        ini="tradewatch_market_calendar",
        cli="--market-calendar",
    ),
    SettingSpec(
        "market_zone",
        "the time zone of the trading day; default: the calendar's when only it is set, else the "
        "layout's (America/New_York; Asia/Hong_Kong for catalyst-international)",
        parse_zone,
        ini="tradewatch_market_zone",
        cli="--market-zone",
    ),
    SettingSpec(
        "as_of",
        "the 'now' of every time-based check (ISO-8601; without a zone it is UTC); default: "
        "the wall clock, or the demo snapshot's time on the demo database",
        parse_timestamp,
        cli="--as-of",
        env="TRADEWATCH_AS_OF",
    ),
    SettingSpec(
        "stuck_order_minutes",
        "minutes an order may stay pending before it is stuck",
        parse_positive_float,
        default="5",
        ini="tradewatch_stuck_order_minutes",
        cli="--stuck-order-minutes",
    ),
    SettingSpec(
        "qty_mismatch_pct",
        "quantity difference (percent) at or above which a mismatch is CRITICAL",
        parse_positive_float,
        default="10",
        ini="tradewatch_qty_mismatch_pct",
        cli="--qty-mismatch-pct",
    ),
    SettingSpec(
        "stale_cycle_minutes",
        "minutes a running cycle may go without an update",
        parse_positive_float,
        default="30",
        ini="tradewatch_stale_cycle_minutes",
        cli="--stale-cycle-minutes",
    ),
    SettingSpec(
        "stale_pnl_minutes",
        "minutes an open position's P&L may go without an update",
        parse_positive_float,
        default="10",
        ini="tradewatch_stale_pnl_minutes",
        cli="--stale-pnl-minutes",
    ),
    SettingSpec(
        "findings_cap",
        "most findings one test writes into the JSON report (the count is always whole)",
        parse_positive_int,
        default="200",
        ini="tradewatch_findings_cap",
        cli="--findings-cap",
    ),
    SettingSpec(
        "report_path",
        "where the pytest-json-report file is written; empty turns it off",
        parse_text,
        default="reports/tradewatch.json",
        ini="tradewatch_report",
        cli="--tradewatch-report",
    ),
    SettingSpec(
        "broker_cassette",
        "vcrpy cassette to replay (or record) the broker from; "
        "default: none live, cassettes/demo.yaml on the demo database",
        parse_text,
        ini="tradewatch_broker_cassette",
        cli="--broker-cassette",
        env="TRADEWATCH_BROKER_CASSETTE",
    ),
    SettingSpec(
        "broker_timeout_s",
        "seconds one broker request may take before the broker checks error",
        parse_positive_float,
        default="10",
        ini="tradewatch_broker_timeout",
        cli="--broker-timeout",
        env="TRADEWATCH_BROKER_TIMEOUT",
    ),
    SettingSpec(
        "broker_retries",
        "times a rate-limited (429) broker request is retried before the broker checks error",
        parse_positive_int,
        default="3",
        ini="tradewatch_broker_retries",
        cli="--broker-retries",
    ),
    SettingSpec(
        "broker_retry_wait_s",
        "seconds to wait before retrying a rate-limited broker request",
        parse_positive_float,
        default="2",
        ini="tradewatch_broker_retry_wait",
        cli="--broker-retry-wait",
    ),
    SettingSpec(
        "broker_lookup_limit",
        "most orders the broker's listings contradict that one run asks the broker about one by "
        "one (the rest wait for a later run)",
        parse_positive_int,
        default="50",
        ini="tradewatch_broker_lookup_limit",
        cli="--broker-lookup-limit",
    ),
    SettingSpec(
        "broker_grace_seconds",
        "seconds before as-of within which an order submitted or changed (or a fill) is not yet "
        "judged against the broker: the two may still be catching up",
        parse_non_negative_float,
        default="30",
        ini="tradewatch_broker_grace_seconds",
        cli="--broker-grace-seconds",
    ),
    SettingSpec(
        "fill_price_tolerance_pct",
        "how far (percent) an order's recorded average fill price may be from the broker's fills",
        parse_non_negative_float,
        default="0.5",
        ini="tradewatch_fill_price_tolerance_pct",
        cli="--fill-price-tolerance-pct",
    ),
    SettingSpec(
        "avg_price_tolerance_pct",
        "how far (percent) a symbol's entry price in the database may be from the broker's "
        "avg_entry_price",
        parse_non_negative_float,
        default="0.5",
        ini="tradewatch_avg_price_tolerance_pct",
        cli="--avg-price-tolerance-pct",
    ),
    SettingSpec(
        "min_buying_power",
        "buying power below which the account is BUYING_POWER_LOW",
        parse_number,
        default="0",
        ini="tradewatch_min_buying_power",
        cli="--min-buying-power",
    ),
    SettingSpec(
        "max_open_positions",
        "risk limit: most symbols held at once (off unless set; the Catalyst desk used 5)",
        parse_optional_positive_int,
        ini="tradewatch_max_open_positions",
        cli="--max-open-positions",
    ),
    SettingSpec(
        "max_position_pct",
        "risk limit: most of equity (percent) in one position (off unless set; the desk used 25)",
        parse_optional_positive_float,
        ini="tradewatch_max_position_pct",
        cli="--max-position-pct",
    ),
    SettingSpec(
        "max_daily_loss_pct",
        "risk limit: most of yesterday's equity (percent) lost today (off unless set; the desk used 3)",
        parse_optional_positive_float,
        ini="tradewatch_max_daily_loss_pct",
        cli="--max-daily-loss-pct",
    ),
    SettingSpec(
        "alpaca_api_key",
        "Alpaca API key id (secret: never written anywhere)",
        parse_text,
        env="ALPACA_API_KEY",
    ),
    SettingSpec(
        "alpaca_secret_key",
        "Alpaca secret key (secret: never written anywhere)",
        parse_text,
        env="ALPACA_SECRET_KEY",
    ),
    SettingSpec(
        "alpaca_paper",
        "trade against the paper account",
        parse_bool,
        default="true",
        env="ALPACA_PAPER",
    ),
    SettingSpec(
        "alpaca_base_url",
        "override of the broker's base URL (a proxy or a local test server)",
        parse_text,
        env="ALPACA_BASE_URL",
    ),
    SettingSpec(
        "run_deadline_s",
        "seconds the whole run may take, from start-up: a check it cuts, and every check after it, "
        "is an error, and the report is written",
        parse_positive_float,
        default="240",
        ini="tradewatch_run_deadline",
        cli="--run-deadline",
        env="TRADEWATCH_RUN_DEADLINE",
    ),
    SettingSpec(
        "lock_timeout_s",
        "seconds a check query waits for a lock another session holds before it errors",
        parse_positive_float,
        default="5",
        ini="tradewatch_lock_timeout",
        cli="--lock-timeout",
        env="TRADEWATCH_LOCK_TIMEOUT",
    ),
    SettingSpec(
        "heartbeat_url",
        "healthchecks-style URL pinged after every checks run: as is when the run completed, its /fail "
        "when it is an ERROR (secret: only its scheme, host and port are ever shown)",
        parse_text,
        ini="tradewatch_heartbeat_url",
        cli="--heartbeat-url",
        env="TRADEWATCH_HEARTBEAT_URL",
    ),
)
# Each setting by its name: a rule's own threshold is read by the run-wide setting's parser.
BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run."""

    database_url: str | None
    require_database: bool
    require_broker: bool
    statement_timeout_s: float
    profile: str
    schema_overrides: tuple[str, ...]
    vocabulary_overrides: tuple[str, ...]
    rules: tuple[str, ...]
    known_findings: str | None
    market_calendar: str | None
    market_zone: str | None
    as_of: datetime | None
    stuck_order_minutes: float
    qty_mismatch_pct: float
    stale_cycle_minutes: float
    stale_pnl_minutes: float
    findings_cap: int
    report_path: str | None
    broker_cassette: str | None
    broker_timeout_s: float
    broker_retries: int
    broker_lookup_limit: int
    broker_grace_seconds: float
    fill_price_tolerance_pct: float
    avg_price_tolerance_pct: float
    min_buying_power: Decimal
    max_open_positions: int | None
    max_position_pct: float | None
    max_daily_loss_pct: float | None
    broker_retry_wait_s: float
    alpaca_api_key: str | None
    alpaca_secret_key: str | None
    alpaca_paper: bool
    alpaca_base_url: str | None
    run_deadline_s: float
    lock_timeout_s: float
    heartbeat_url: str | None

    def market(self, layout: Market) -> Market:
        """The market of the run: each half as set, else the layout's; a calendar set alone brings
        its exchange's own zone (XHKG's day is Hong Kong's, whatever the layout's is)."""
        if self.market_calendar is None:
            return Market(layout.calendar, self.market_zone or layout.zone)
        from tradewatch import market_hours  # Imported here: it loads the calendars (pandas).

        own_zone = market_hours.zone_of(self.market_calendar)  # UnknownCalendar for a name none has
        return Market(self.market_calendar, self.market_zone or own_zone)

    def __repr__(self) -> str:
        # Keep the broker keys and the database password out of tracebacks (--showlocals) and logs.
        from tradewatch.db import describe  # Imported here: only the repr needs it.

        hidden = ("alpaca_api_key", "alpaca_secret_key", "heartbeat_url")
        shown = {
            key: ("***" if key in hidden and value else value)
            for key, value in vars(self).items()
        }
        if self.database_url:
            shown["database_url"] = f"<{describe(self.database_url)}, password hidden>"
        return f"Settings({shown})"


def register_options(parser: pytest.Parser) -> None:
    """Declare every setting's ini and command-line form under one option group."""
    group = parser.getgroup("tradewatch", "tradewatch data-quality checks")
    for spec in SPECS:
        if spec.cli:
            if spec.flag:
                group.addoption(spec.cli, action="store_const", const="true", dest=spec.name,
                                default=None, help=spec.help)
            else:
                group.addoption(spec.cli, action="store", dest=spec.name, default=None,
                                help=spec.help)
        if spec.ini:
            if spec.ini_type == "linelist":
                parser.addini(spec.ini, spec.help, type="linelist", default=[])
            else:
                parser.addini(spec.ini, spec.help, type="string", default=spec.default or "")


def resolve(
    cli_values: Mapping[str, str | None],
    env: Mapping[str, str],
    ini_values: Mapping[str, Any],
) -> Settings:
    """Pick each setting from its highest-precedence source and parse it."""
    values: dict[str, Any] = {}
    for spec in SPECS:
        raw, source = spec.default, "default"
        if spec.ini:
            # getini already falls back to the default, so an empty value was set on purpose.
            text = ini_values.get(spec.ini, "")
            if text not in ("", []) or spec.default is not None or spec.ini_type == "linelist":
                raw, source = text, f"ini option {spec.ini}"
        if spec.env and env.get(spec.env, "") != "":
            raw, source = env[spec.env], f"environment variable {spec.env}"
        if spec.cli and cli_values.get(spec.name) is not None:
            raw, source = cli_values[spec.name], f"option {spec.cli}"
        try:
            values[spec.name] = spec.parse(raw) if raw is not None else None
        except SettingError as exc:
            raise SettingError(f"{source}: {exc}") from None
    return Settings(**values)


def resolve_from_pytest(config: pytest.Config) -> Settings:
    """Resolve the settings of a pytest run from its options, environment and ini file."""
    cli_values = {spec.name: config.getoption(spec.name) for spec in SPECS if spec.cli}
    ini_values = {spec.ini: config.getini(spec.ini) if spec.ini_type == "linelist"
                  else str(config.getini(spec.ini)) for spec in SPECS if spec.ini}
    return resolve(cli_values, os.environ, ini_values)


def markdown_table() -> str:
    """The README's settings table, made from SPECS so the two cannot disagree."""
    rows = [
        "| setting | environment variable | command-line option | ini option | default |",
        "|---|---|---|---|---|",
    ]
    for spec in SPECS:
        cells = [spec.help, spec.env, spec.cli, spec.ini, spec.default]
        rows.append("| " + " | ".join(f"`{cell}`" if cell and cell is not spec.help else (cell or "—")
                                       for cell in cells) + " |")
    return "\n".join(rows)

"""Settings: one declaration each, resolved once with a fixed precedence, documented as declared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import CHECKOUT
from tradewatch import settings

INI_DEFAULTS = {spec.ini: spec.default or "" for spec in settings.SPECS if spec.ini}


def test_defaults() -> None:
    resolved = settings.resolve({}, {}, INI_DEFAULTS)
    assert resolved.database_url is None
    assert resolved.stuck_order_minutes == 5
    assert resolved.qty_mismatch_pct == 10
    assert resolved.stale_cycle_minutes == 30
    assert resolved.stale_pnl_minutes == 10
    assert resolved.statement_timeout_s == 30
    assert resolved.alpaca_paper is True
    assert resolved.require_database is False


def test_command_line_beats_environment_beats_ini() -> None:
    ini = {**INI_DEFAULTS, "tradewatch_statement_timeout": "7"}
    assert settings.resolve({}, {}, ini).statement_timeout_s == 7
    env = {"TRADEWATCH_STATEMENT_TIMEOUT": "8"}
    assert settings.resolve({}, env, ini).statement_timeout_s == 8
    cli = {"statement_timeout_s": "9"}
    assert settings.resolve(cli, env, ini).statement_timeout_s == 9


def test_as_of_without_a_zone_is_utc() -> None:
    resolved = settings.resolve({"as_of": "2025-12-31T16:00:00"}, {}, INI_DEFAULTS)
    assert resolved.as_of == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


def test_empty_ini_value_turns_the_report_off() -> None:
    assert settings.resolve({}, {}, INI_DEFAULTS).report_path == "reports/tradewatch.json"
    assert settings.resolve({}, {}, {**INI_DEFAULTS, "tradewatch_report": ""}).report_path is None


@pytest.mark.parametrize(
    ("cli", "env", "says"),
    [
        ({"stuck_order_minutes": "-1"}, {}, "option --stuck-order-minutes: expected a number above 0"),
        ({"as_of": "yesterday"}, {}, "option --as-of: expected an ISO-8601 timestamp"),
        ({}, {"ALPACA_PAPER": "maybe"}, "environment variable ALPACA_PAPER: expected true/false"),
    ],
    ids=["negative-threshold", "bad-timestamp", "bad-boolean"],
)
def test_bad_values_say_where_they_came_from(cli: dict[str, str], env: dict[str, str], says: str) -> None:
    with pytest.raises(settings.SettingError, match=says):
        settings.resolve(cli, env, INI_DEFAULTS)


@pytest.mark.parametrize("url", [
    "postgresql://watch:Pw%401%20%25zz%27x9@db.internal:5432/catalyst",
    "postgresql://watch:Pw@1 %zz'x9@db.internal:5432/catalyst",
    "host=db.internal user=watch password='Pw@1 %zz\\'x9' dbname=catalyst",
    "host=db.internal user=watch password=Pw@1 %zz'x9 dbname=catalyst",
], ids=["url", "url-unencoded", "keywords", "keywords-unquoted"])
def test_secrets_stay_out_of_the_repr(url: str) -> None:
    """pytest's --showlocals prints the settings: no broker key and no piece of the password."""
    env = {"ALPACA_API_KEY": "key-id-123", "ALPACA_SECRET_KEY": "very-secret-456", "DATABASE_URL": url}
    shown = repr(settings.resolve({}, env, INI_DEFAULTS))
    assert "key-id-123" not in shown
    assert "very-secret-456" not in shown
    for piece in ("Pw@1", "%zz", "zz'x9", "Pw%40", "%25zz"):
        assert piece not in shown
    assert "database_url" in shown


def test_a_bad_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(str(CHECKOUT / "checks"), "--stuck-order-minutes=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "tradewatch: option --stuck-order-minutes: expected a number" in result.stderr.str()


def test_readme_documents_every_setting() -> None:
    assert settings.markdown_table() in (CHECKOUT / "README.md").read_text()

"""No output shows a database password (or a piece of it) or a broker key, however the URL is written."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest
from psycopg import conninfo

from tests.conftest import CHECKS_DIR, QUICK_RUN
from tests.pg import run_sql_file, watch
from tradewatch import alerting, cli, db, demo

PASSWORD = "Pw@1 %zz'x9"
BROKER_KEYS = ("AKSECRET123", "SKSECRET456")
# Every way a database URL may be written with that password (or a near one), readable or not;
# all point at a port nothing listens on.
UNREACHABLE: dict[str, tuple[str, str]] = {
    "url-encoded": (f"postgresql://u:{quote(PASSWORD, safe='')}@127.0.0.1:1/x", PASSWORD),
    "url-raw": (f"postgresql://u:{PASSWORD}@127.0.0.1:1/x", PASSWORD),
    "url-raw-at": ("postgresql://u:Pw@1zz'x9@127.0.0.1:1/x", "Pw@1zz'x9"),
    "url-raw-slash": ("postgresql://u:Pw/1zz'x9@127.0.0.1:1/x", "Pw/1zz'x9"),
    "url-bad-query": (f"postgres://u:{quote(PASSWORD, safe='')}@127.0.0.1:1/x?bogus=1", PASSWORD),
    "keywords-quoted": ("host=127.0.0.1 port=1 dbname=x user=u password='Pw@1 %zz\\'x9'", PASSWORD),
    "keywords-raw": (f"host=127.0.0.1 port=1 dbname=x user=u password={PASSWORD}", PASSWORD),
    "keywords-raw-first": (f"password={PASSWORD} host=127.0.0.1 port=1 dbname=x user=u", PASSWORD),
    "keywords-badly-quoted": (f"host=127.0.0.1 port=1 dbname=x user=u password='{PASSWORD}'", PASSWORD),
    "keywords-percent": ("host=127.0.0.1 port=1 dbname=x user=u password=Pw@1%zz'x9", "Pw@1%zz'x9"),
}


def forms(secret: str) -> set[str]:
    """A secret as it may be written: plain, URL-quoted, inside a repr or a JSON string."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), repr(secret)[1:-1],
            json.dumps(secret)[1:-1]}


def pieces(secret: str, width: int = 5) -> set[str]:
    """Every run of width characters of a secret's forms: a part of it shown is a leak too."""
    return {form[i:i + width] for form in forms(secret) for i in range(max(1, len(form) - width + 1))}


def leaks(output: str, secrets: list[str]) -> list[str]:
    return sorted(piece for secret in secrets for piece in pieces(secret) | forms(secret) if piece in output)


def test_the_leak_finder_finds_leaks() -> None:
    assert leaks(f"x {quote(PASSWORD, safe='')} y", [PASSWORD])
    assert leaks("the host 1 %zz'x9@127.0.0.1", [PASSWORD])
    assert leaks(repr(BROKER_KEYS[0]), list(BROKER_KEYS))
    assert leaks("connection to server at \"127.0.0.1\", port 1 failed", [PASSWORD]) == []


@pytest.mark.parametrize(("url", "password"), list(UNREACHABLE.values()), ids=list(UNREACHABLE))
def test_describe_unreachable_and_redact_hide_the_password(url: str, password: str) -> None:
    said = [db.describe(url)]
    with pytest.raises(psycopg.Error) as failed:
        psycopg.connect(url, connect_timeout=5)
    said.append(str(db.unreachable(url, failed.value)))
    assert said[1].startswith("cannot reach database ")
    quoting = f"check could not run: connection to {url} failed\nagain: {url}"
    said.append(alerting.redact(quoting, []))
    said.append(alerting.redact(quoting, alerting.secrets_from_env({"DATABASE_URL": url})))
    assert leaks("\n".join(said), [password]) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broker keys in the environment; the broker they would open is a port nothing listens on."""
    monkeypatch.setenv("ALPACA_API_KEY", BROKER_KEYS[0])
    monkeypatch.setenv("ALPACA_SECRET_KEY", BROKER_KEYS[1])
    monkeypatch.setenv("ALPACA_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("TRADEWATCH_ALERT_URLS", raising=False)


def commands(report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Everything summary (both formats), alert --dry-run and fixes print about a report."""
    printed = []
    for argv in (["summary", str(report)], ["summary", str(report), "--format", "v2"],
                 ["alert", str(report), "--dry-run", "--state", str(tmp_path / "state.json")],
                 ["fixes", str(report)]):
        capsys.readouterr()
        cli.main(argv)
        out, err = capsys.readouterr()
        printed += [out, err]
    return printed


@pytest.mark.usefixtures("planted")
@pytest.mark.parametrize(("url", "password"), list(UNREACHABLE.values()), ids=list(UNREACHABLE))
def test_a_run_that_cannot_reach_its_database_shows_no_secret(
    url: str, password: str, pytester: pytest.Pytester, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    report = tmp_path / "report.json"
    result = pytester.runpytest_inprocess(str(CHECKS_DIR), f"--database-url={url}", "--showlocals",
                                          f"--tradewatch-report={report}", *QUICK_RUN)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.outlines + result.errlines
    assert any("cannot reach database" in line for line in output)
    output.append(report.read_text())  # The report says the run errored, and shows no secret either.
    output += commands(report, tmp_path, capsys)
    assert leaks("\n".join(output), [password, *BROKER_KEYS]) == []


def with_password(url: str, form: str) -> str:
    """The URL of a scratch database with the planted password (the server trusts it anyway)."""
    if form == "keywords":
        return conninfo.make_conninfo(url, password=PASSWORD)
    params = conninfo.conninfo_to_dict(url)
    where = quote(str(params.get("host") or "localhost"), safe="")
    return (f"postgresql://{quote(str(params['user']), safe='')}:{quote(PASSWORD, safe='')}@{where}:"
            f"{params.get('port') or 5432}/{params['dbname']}")


@pytest.mark.usefixtures("planted")
@pytest.mark.parametrize("form", ["url", "keywords"])
def test_a_run_with_showlocals_and_its_commands_show_no_secret(
    form: str, migrated_db: str, pytester: pytest.Pytester, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_sql_file(migrated_db, demo.DEMO_SQL)
    url = with_password(migrated_db, form)
    monkeypatch.setenv("DATABASE_URL", url)
    report = tmp_path / "report.json"
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), f"--database-url={url}", "--as-of=2025-12-31T11:00:00-05:00", "--showlocals",
        "-p", "tests.showlocals_plugin", f"--tradewatch-report={report}", *QUICK_RUN,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.outlines + result.errlines
    # The planted failure's locals were shown, and the broker checks tried the keys and errored.
    assert any(line.startswith("settings   = Settings(") for line in output)
    assert any(line.startswith("watched    = WatchedDatabase(") for line in output)
    assert "cannot reach the broker" in report.read_text()
    output += [report.read_text(), *commands(report, tmp_path, capsys)]
    assert "UPDATE" in output[-2]  # fixes printed its statements.
    assert leaks("\n".join(output), [PASSWORD, *BROKER_KEYS]) == []


@pytest.mark.parametrize("form", ["url", "keywords"])
def test_the_watched_database_repr_shows_no_secret(migrated_db: str, form: str) -> None:
    session = watch(with_password(migrated_db, form))
    try:
        shown = repr(session)
    finally:
        session.close()
    assert shown.startswith("WatchedDatabase(")
    assert leaks(shown, [PASSWORD]) == []

"""Self-test fixtures: a real PostgreSQL (DATABASE_URL's, or embedded) and scratch databases."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import ScratchServer, dbname, run_sql_file
from tradewatch import migrate
from tradewatch.embedded import EmbeddedServer

CHECKOUT = Path(__file__).resolve().parent.parent
CHECKS_DIR = CHECKOUT / "checks"
SEEDS_DIR = CHECKOUT / "fixtures" / "seeds"
# Flags for in-process pytest runs: no cache files; and no hypothesis plugin, as pytest.ini
# says, also for runs outside the checkout (loading it after hypothesis is imported warns).
QUICK_RUN = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def pytest_configure(config: pytest.Config) -> None:
    """Every warning fails a self-test, but those pytest.ini ignores; and the slow marker."""
    # First in the list, so the ini's ignore lines, applied after it, still win. The checks run
    # without it: a dependency's warning must never turn a checks run into an error.
    filters = config.getini("filterwarnings")
    assert isinstance(filters, list)
    filters.insert(0, "error")
    config.addinivalue_line("markers", "slow: builds and installs the package (make test runs it)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ScratchServer]:
    """DATABASE_URL's server when set, else one embedded server for the whole run."""
    url = os.environ.get("DATABASE_URL")
    embedded = None
    if not url:
        embedded = EmbeddedServer()
        url = embedded.start()
    server = ScratchServer(url)
    try:
        yield server
    finally:
        # An embedded server's folder goes whole; on a shared server, drop what we made.
        if embedded is not None:
            embedded.stop()
        else:
            server.drop_all()


@pytest.fixture(scope="session")
def migrated_template(pg_server: ScratchServer) -> str:
    """The name of a database migrated to the newest schema, to copy from."""
    url = pg_server.create()
    migrate.apply(url)
    return dbname(url)


@pytest.fixture
def empty_db(pg_server: ScratchServer) -> str:
    """A fresh empty database."""
    return pg_server.create()


@pytest.fixture
def migrated_db(pg_server: ScratchServer, migrated_template: str) -> str:
    """A fresh database with every migration applied and no rows."""
    return pg_server.create(template=migrated_template)


@pytest.fixture
def seeded_db(migrated_db: str) -> Callable[..., str]:
    """Load fixtures/seeds/NAME.sql files, in order, into a fresh migrated database."""

    def load(*names: str) -> str:
        for name in names:
            run_sql_file(migrated_db, SEEDS_DIR / f"{name}.sql")
        return migrated_db

    return load


RunChecks = Callable[..., tuple[pytest.RunResult, dict[str, Any]]]


@pytest.fixture
def run_checks(pytester: pytest.Pytester, tmp_path: Path) -> RunChecks:
    """Run the real checks/ against a database; return pytest's result and the JSON report."""

    def run(database_url: str, *args: str, as_of: str = "2025-12-31T11:00:00-05:00"):  # type: ignore[no-untyped-def]
        report = tmp_path / "report.json"
        result = pytester.runpytest_inprocess(
            str(CHECKS_DIR),
            f"--database-url={database_url}",
            f"--as-of={as_of}",
            f"--tradewatch-report={report}",
            *QUICK_RUN,
            *args,
        )
        data = json.loads(report.read_text()) if report.exists() else {}
        return result, data

    return run


def findings_of(report: dict[str, Any], test_name: str) -> list[dict[str, Any]]:
    """The findings one check (by node-id suffix) attached in a JSON report."""
    for test in report["tests"]:
        if test["nodeid"].endswith(test_name):
            return list(test.get("metadata", {}).get("findings", []))
    raise AssertionError(f"no test {test_name} in the report")


@pytest.fixture(scope="session")
def phase1_db(pg_server: ScratchServer) -> str:
    """A database at Phase 1 (migrations 0001-0002) with no rows."""
    url = pg_server.create()
    migrate.apply(url, target="0002.orders-table")
    return url

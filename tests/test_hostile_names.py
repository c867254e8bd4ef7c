"""A database whose very name holds a line break and ESC: every line a run or a command prints shows
it escaped."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from tests.conftest import RunChecks
from tests.pg import ScratchServer, run_sql
from tradewatch import cli, demo

NAME = "tw_selftest_name\n\x1b[31mRED"


@pytest.fixture
def hostile_name(pg_server: ScratchServer, migrated_template: str) -> Iterator[str]:
    """The demo desk in a database of that name, dropped after."""
    run_sql(pg_server.admin_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(NAME), sql.Identifier(migrated_template)))
    try:
        url = pg_server.url(NAME)
        run_sql(url, demo.DEMO_SQL.read_text())
        yield url
    finally:
        run_sql(pg_server.admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(NAME)))


def test_the_name_is_shown_escaped(hostile_name: str, run_checks: RunChecks, tmp_path: Path) -> None:
    result, _ = run_checks(hostile_name, "-m", "not broker")
    printed = result.outlines + result.errlines
    assert not [line for line in printed if "\x1b" in line]
    assert any("tw_selftest_name\\n\\x1b[31mRED" in line for line in printed)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["metrics", str(tmp_path / "report.json")]) == 0
    assert "\x1b" not in out.getvalue()
    assert 'database="tw_selftest_name\\\\n\\\\x1b[31mRED"' in out.getvalue()

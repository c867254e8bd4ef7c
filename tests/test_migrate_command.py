"""tradewatch migrate: shows its plan, asks before writing, and adopts a Phase 1 database."""

from __future__ import annotations

import uuid

import pytest
from psycopg import conninfo, sql

from tests.db_checksum import checksum
from tests.pg import ScratchServer, run_sql
from tradewatch import cli, migrate


def _with_password(url: str) -> str:
    return conninfo.make_conninfo(url, password="s3cret-pw")


def test_status_lists_every_migration(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "status", "--database-url", empty_db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pending  0001.base-schema"
    assert len(lines) == len(migrate.status(empty_db))


def test_nothing_is_written_without_yes_off_a_terminal(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under pytest stdin is not a terminal: the command must refuse, not hang or write (not even
    # yoyo's own tables).
    before = checksum(empty_db)
    assert cli.main(["migrate", "apply", "--database-url", _with_password(empty_db)]) == 1
    out = capsys.readouterr()
    assert "apply: 0001.base-schema" in out.out
    assert "pg_dump --format=custom" in out.out
    assert "Nothing written." in out.out
    assert "pass --yes" in out.err
    assert "s3cret-pw" not in out.out + out.err
    assert not any(state.applied for state in migrate.status(empty_db))
    assert checksum(empty_db) == before


def test_apply_and_rollback_with_yes(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "apply", "--to", "0003", "--yes", "--database-url", empty_db]) == 0
    assert [s.applied for s in migrate.status(empty_db)][:4] == [True, True, True, False]
    assert cli.main(["migrate", "rollback", "--to", "0001", "--yes", "--database-url", empty_db]) == 0
    assert [s.applied for s in migrate.status(empty_db)][:3] == [True, False, False]
    assert "rolled back 2 migration(s)" in capsys.readouterr().out


def test_baseline_adopts_a_database_already_at_phase1(
    pg_server: ScratchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.create()
    migrate.apply(url, target="0002.orders-table")
    run_sql(url, "DROP TABLE _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock")
    assert cli.main(["migrate", "apply", "--baseline", "--yes", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "record as applied (not run): 0001.base-schema" in out
    assert "apply: 0003.order-purpose" in out
    assert all(state.applied for state in migrate.status(url))


def test_a_refused_migration_says_why_in_one_line(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.apply(empty_db, target="0004.pipeline-status-view")
    run_sql(empty_db, """
        INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL');
        INSERT INTO trading_cycles (cycle_id) VALUES ('c');
        INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price,
                               alpaca_order_id) VALUES (7, 'c', 1, 'long', 1, 1, 'lost-id');
    """)
    before = checksum(empty_db)
    assert cli.main(["migrate", "apply", "--yes", "--database-url", empty_db]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("tradewatch migrate: 0005.drop-legacy-columns: refusing to drop "
                             "positions.alpaca_order_id: positions 7")
    assert checksum(empty_db) == before


@pytest.mark.parametrize(
    "url", ["postgresql://u:s3cret@127.0.0.1:1/x", "postgresql://u:s3cret@127.0.0.1:1/x?bogus=1"],
    ids=["refused", "malformed"],
)
def test_an_unreachable_database_is_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "status", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cannot reach database" in err[0]
    assert "s3cret" not in err[0]


def test_without_a_database_it_says_how_to_name_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["migrate", "status"]) == 64  # EX_USAGE: not a code a status reader knows.
    assert "set DATABASE_URL or pass --database-url" in capsys.readouterr().err


def test_a_role_that_may_not_create_is_told_so_in_one_line(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role without CREATE where the records go: refused before yoyo tries (and fails unexplained)."""
    role = f"tw_selftest_{uuid.uuid4().hex[:8]}"
    run_sql(empty_db, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))  # dropped below
    try:
        before = checksum(empty_db)
        url = conninfo.make_conninfo(empty_db, user=role)
        assert cli.main(["migrate", "apply", "--yes", "--database-url", url]) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"tradewatch migrate: role {role} may not create tables in the first schema of its "
            "search_path, where the migration records are kept; migrate as the role that owns the "
            "desk's tables; nothing written"]
        assert checksum(empty_db) == before
    finally:
        run_sql(empty_db, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

"""Scratch databases for the self-tests, on DATABASE_URL's server or an embedded one."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from tradewatch import db


class ScratchServer:
    """A PostgreSQL server the self-tests may create and drop databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._created: list[str] = []

    def url(self, dbname: str) -> str:
        """A URL for one database of this server."""
        return conninfo.make_conninfo(self.admin_url, dbname=dbname)

    def create(self, template: str | None = None) -> str:
        """Create a fresh database (optionally a copy of template) and return its URL."""
        name = f"tw_selftest_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with db.connect(self.admin_url, read_only=False) as conn:
            conn.execute(statement)
        self._created.append(name)
        return self.url(name)

    def drop_all(self) -> None:
        """Drop every database this run created."""
        with db.connect(self.admin_url, read_only=False) as conn:
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created.clear()


def dbname(url: str) -> str:
    """The database a URL names."""
    return str(conninfo.conninfo_to_dict(url)["dbname"])


def run_sql(url: str, text: str) -> None:
    """Run a script of statements as the owner (not through a check session)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


def run_sql_file(url: str, path: Path) -> None:
    """Run a .sql file of statements."""
    run_sql(url, path.read_text())

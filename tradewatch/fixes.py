"""Reviewable fix statements, composed with psycopg.sql so every value is quoted by psycopg."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

NOW = sql.SQL("NOW()")


def update_row(
    conn: psycopg.Connection,
    table: str,
    where: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> str:
    """UPDATE one row, found by its key (and any guard columns), setting the given values."""
    assignments = [
        sql.SQL("{} = {}").format(
            sql.Identifier(column),
            value if isinstance(value, sql.Composable) else sql.Literal(value),
        )
        for column, value in changes.items()
    ]
    conditions = [
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(value))
        for column, value in where.items()
    ]
    statement = sql.SQL("UPDATE {} SET {} WHERE {};").format(
        sql.Identifier(table),
        sql.SQL(", ").join(assignments),
        sql.SQL(" AND ").join(conditions),
    )
    return statement.as_string(conn)

"""A checksum of a database's schema and data, to prove that a command changed nothing."""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql

# The schemas a database's owner made: not PostgreSQL's own, nor its temporary or TOAST ones.
_USER_SCHEMAS = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""

# Each part is one query over pg_catalog whose rows, in order, define that part of the schema.
_DEFINITIONS = {
    "schemas": "SELECT n.nspname, n.nspacl::text FROM pg_namespace n WHERE " + _USER_SCHEMAS,
    "relations": "SELECT n.nspname, c.relname, c.relkind, c.relacl::text, c.relpersistence"
                 " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + _USER_SCHEMAS,
    "columns": """
        SELECT n.nspname, c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND """ + _USER_SCHEMAS,
    "indexes": "SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid)"
               " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
               " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + _USER_SCHEMAS,
    "constraints": "SELECT n.nspname, co.conrelid::regclass::text, co.conname, pg_get_constraintdef(co.oid)"
                   " FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE "
                   + _USER_SCHEMAS,
    "views": "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid)"
             " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE c.relkind IN ('v', 'm') AND " + _USER_SCHEMAS,
    "triggers": "SELECT c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE NOT t.tgisinternal AND " + _USER_SCHEMAS,
    "functions": "SELECT n.nspname, p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
                 " JOIN pg_namespace n ON n.oid = p.pronamespace"
                 " WHERE p.prokind IN ('f', 'p') AND " + _USER_SCHEMAS,
    # Every comment on an object the owner made (objects past PostgreSQL's own).
    "comments": "SELECT pg_describe_object(classoid, objoid, objsubid), description"
                " FROM pg_description WHERE objoid >= 16384",
    "sequences": "SELECT schemaname, sequencename, last_value FROM pg_sequences"
                 " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
}

_TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND """ + _USER_SCHEMAS


def checksum(url: str) -> dict[str, str]:
    """A digest per part of the schema's definitions and per table's rows, read as the owner."""
    digests: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for part, query in _DEFINITIONS.items():
            digests[part] = _digest(conn, query)
        for schema, table in conn.execute(_TABLES).fetchall():
            rows = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(schema, table))
            digests[f"rows of {schema}.{table}"] = _digest(conn, rows)
    return digests


def _digest(conn: psycopg.Connection, query: str | sql.Composable) -> str:
    """The SHA-256 of a query's rows, sorted, so that the order rows come back in does not count."""
    rows = sorted(repr(row) for row in conn.execute(query))  # type: ignore[arg-type]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()

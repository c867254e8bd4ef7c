"""The one way tradewatch opens a database connection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import psycopg
from psycopg import conninfo

from tradewatch import text

APPLICATION_NAME = "tradewatch"
URI_SCHEMES = ("postgresql://", "postgres://")
# password=value in the key=value form: quoted (with \' inside), or up to the next keyword.
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|.*?)(?=\s+\w+\s*=|\s*$)")


class DatabaseUnreachable(RuntimeError):
    """The database could not be reached; the message names it without its password."""


@dataclass(frozen=True)
class ServerInfo:
    """What the report header and metadata say about the checked server."""

    host: str
    database: str
    version: str


def describe(url: str) -> str:
    """Name a database as user@host:port/dbname, never with its password or a piece of it."""
    params = _read_safely(url)
    if params is None:
        return "<unparsable database URL>"
    user = str(params.get("user") or "")
    host = str(params.get("host") or "localhost")
    port = params.get("port")
    where = f"{host}:{port}" if port else host
    return f"{user + '@' if user else ''}{where}/{params.get('dbname') or user or ''}"


def unreachable(url: str, exc: psycopg.Error) -> DatabaseUnreachable:
    """One line naming the database (never its password) and why it could not be reached."""
    # The first line says why (refused, unknown host, bad password, bad URL); the rest is advice.
    lines = str(exc).strip().splitlines()
    reason = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
    if _read_safely(url) is None:
        # libpq and psycopg quote the part of the URL they stumbled on, which may hold the
        # password (quotes and all): keep only what they said before quoting anything.
        said = re.split("[\"']", reason, maxsplit=1)
        reason = said[0].rstrip(" :") + (" ..." if len(said) > 1 else "")
        if any(char in (_uri_password(url) or "") for char in "@/% "):
            reason += " (in a URL, write @ / % and spaces in the password percent-encoded)"
    reason = text.redacted(reason, secrets(url))
    return DatabaseUnreachable(f"cannot reach database {describe(url)}: {text.shown(reason)}")


def secrets(url: str) -> list[str]:
    """A URL's password as libpq reads it and as its writer may have meant it, URL-quoted too."""
    found: set[str] = set()
    try:
        password = conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        found.add(str(password))
    written = url.strip()
    if written.startswith(URI_SCHEMES):
        found.add(_uri_password(written) or "")
    else:
        match = _KEYWORD_PASSWORD.search(written)
        if match:
            value = match.group(1)
            found.update({value, value.strip("'"), value.strip("'").replace("\\'", "'")})
    found.discard("")
    quoted = {form for value in found for form in (quote(value, safe=""), quote_plus(value),
                                                   quote(value), unquote(value))}
    return sorted(found | quoted)


def _uri_password(url: str) -> str | None:
    """The password of a URI as its writer meant it: up to the last '@', encoded or not."""
    written = url.strip()
    if not written.startswith(URI_SCHEMES):
        return None
    userinfo, at, _ = written.split("://", 1)[1].rpartition("@")
    return userinfo.split(":", 1)[1] if at and ":" in userinfo else None


def _read_safely(url: str) -> dict[str, Any] | None:
    """libpq's reading of a URL; None when it cannot read it or may have split a password apart."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return None
    written = url.strip()
    if written.startswith(URI_SCHEMES):
        # libpq ends the user and password at the first '@' or '/': an unencoded '@' or '/' in
        # the password moves the rest of it into the host, port or database name.
        authority = written.split("://", 1)[1]
        at, slash = authority.find("@"), authority.find("/")
        if authority.count("@") > 1 or (at >= 0 and 0 <= slash < at):
            return None
    if any("@" in str(params.get(key) or "") for key in ("host", "port", "dbname")):
        return None
    return params


def connect(
    url: str,
    *,
    read_only: bool,
    statement_timeout_s: float | None = None,
    autocommit: bool = True,
) -> psycopg.Connection:
    """Open a connection; a check session is read-only and bounded in time."""
    options = {"application_name": APPLICATION_NAME, "connect_timeout": 10}
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **options)  # type: ignore[arg-type]
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise unreachable(url, exc) from None
    # set_config takes parameters, where SET would need the value spliced into the text.
    if read_only:
        # Every transaction psycopg begins is BEGIN READ ONLY, whatever a function does to the
        # session's default; and a statement outside one still meets the default.
        conn.read_only = True
        conn.execute("SELECT set_config('default_transaction_read_only', 'on', false)")
        # Timestamps in findings then read the same whatever the server's zone.
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
        # A table's one read is read to its end: plan it for all its rows, not the first ones,
        # and do not compile it (that costs more than it saves on one pass).
        conn.execute("SELECT set_config('cursor_tuple_fraction', '1.0', false)")
        conn.execute("SELECT set_config('jit', 'off', false)")
    if statement_timeout_s is not None:
        timeout_ms = str(round(statement_timeout_s * 1000))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout_ms,))
    if not autocommit:
        conn.commit()
    return conn


def server_info(conn: psycopg.Connection) -> ServerInfo:
    """Read the server's version and where the connection points."""
    row = conn.execute("SELECT current_setting('server_version'), current_database()").fetchone()
    assert row is not None
    host = conn.info.host or "localhost"
    return ServerInfo(host=host, database=str(row[1]), version=str(row[0]))

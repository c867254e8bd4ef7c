"""The one way tradewatch opens a database connection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import psycopg
from psycopg import adapt, conninfo, postgres, pq
from psycopg.abc import RV, AdaptContext, PQGen

from tradewatch import deadline, text

APPLICATION_NAME = "tradewatch"
URI_SCHEMES = ("postgresql://", "postgres://")
# How long past its statement timeout a session waits for the server's reply before it takes the
# link for dead: the server cancels the statement at its timeout and says so within a round trip.
STATEMENT_GRACE_S = 5.0
# TCP keepalives find a peer that vanished (~25 s of silence); tcp_user_timeout (ms) drops a link
# whose sent bytes go unacknowledged for 30 s. A URL's own values for these win.
LINK_OPTIONS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                "tcp_user_timeout": 30000}
# The text types, and oid 0: what psycopg reads as text any type it has no loader for (enums, ...).
TEXT_TYPES: tuple[int | str, ...] = (0, "text", "varchar", "bpchar", "name", '"char"')
# password=value in the key=value form: quoted (with \' inside), or up to the next keyword.
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|.*?)(?=\s+\w+\s*=|\s*$)")


class DatabaseUnreachable(RuntimeError):
    """The database could not be reached; the message names it without its password."""


class SessionLost(psycopg.OperationalError):
    """The check session is gone (no reply in time, or the link broke): nothing more is asked on it."""


class Session(psycopg.Connection[Any]):
    """A connection whose every round trip is bounded; once one is not answered, the session is lost."""

    statement_timeout_s: float | None = None  # None: round trips are unbounded
    lost: str | None = None  # why the session was lost, once it was

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        """psycopg's wait (every statement, fetch and commit goes through it), within the reply bound."""
        if self.lost is not None:
            gen.close()
            raise SessionLost(self.lost)
        timeout_s = self.statement_timeout_s
        seconds = timeout_s + STATEMENT_GRACE_S if timeout_s is not None else None
        said = (f"no reply from the server within {seconds:g} s (statement timeout {timeout_s:g} s + "
                f"{STATEMENT_GRACE_S:g} s grace): the link is down or stalled") if seconds else ""
        with deadline.bounded(seconds, said) as bound:
            try:
                return super().wait(gen, interval, timeout)
            except deadline.Expired as exc:
                # Cut mid-reply, the protocol state is unknown: close now, so that nothing (a
                # rollback, psycopg's cancel of a stream) waits on the link again.
                self._lose(exc.message if exc.bound is bound else f"interrupted: {exc.message}")
                if exc.bound is bound:
                    raise SessionLost(exc.message) from None
                raise
            except psycopg.OperationalError as exc:
                if self.broken:  # the server hung up, or the link broke
                    self._lose(first_line(exc))
                raise

    def _lose(self, reason: str) -> None:
        self.lost = reason
        self.pgconn.finish()


class TolerantTextLoader(adapt.Loader):
    """Text in the connection's encoding; bytes not valid in it (a SQL_ASCII database stores any)
    are read as UTF-8 with the invalid bytes written as \\xNN escapes, never an error."""

    # Why a loader and not client_encoding=UTF8: on a SQL_ASCII database the server would then refuse
    # to send a value that is not UTF-8 (the whole read fails); and left alone, psycopg hands such
    # a database's text over as bytes.

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        encoding = self.connection.info.encoding if self.connection else "utf-8"
        # SQL_ASCII (psycopg's "ascii") means no encoding at all: UTF-8 is the likeliest intent.
        self._encoding = "utf-8" if encoding == "ascii" else encoding

    def load(self, data: Any) -> str:
        """The text, escaped where it is not valid in the encoding."""
        raw = bytes(data)
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError:
            return raw.decode("utf-8", "backslashreplace")


class EndlessLoader(adapt.Loader):
    """A moment or a date psycopg's own loader reads; one beyond Python's range ('infinity', a year
    past 9999 or before 1) as the far end of that range, on its side: a rule then judges it."""

    type_name = ""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        # psycopg's fastest loader for the type (its compiled one when installed).
        within = postgres.adapters.get_loader(postgres.types[self.type_name].oid, pq.Format.TEXT)
        assert within is not None, self.type_name
        self._within = within(oid, context)

    def load(self, data: Any) -> Any:
        """The value; one out of range as the earliest or latest Python has."""
        try:
            return self._within.load(data)
        except psycopg.DataError:
            raw = bytes(data)
            year = raw.split(b"-", 1)[0]
            if raw == b"-infinity" or raw.endswith(b" BC"):
                return self.far(datetime.min)
            if raw == b"infinity" or (year.isdigit() and len(year) > 4):
                return self.far(datetime.max)
            raise

    def far(self, moment: datetime) -> Any:
        """An end of Python's range as this type."""
        return moment


class EndlessTimestamptzLoader(EndlessLoader):
    """timestamptz, with 'infinity' and '-infinity' as the latest and earliest moments Python has."""

    type_name = "timestamptz"

    def far(self, moment: datetime) -> datetime:
        """The moment, in UTC."""
        return moment.replace(tzinfo=UTC)


class EndlessTimestampLoader(EndlessLoader):
    """timestamp, with 'infinity' and '-infinity' as the latest and earliest moments Python has."""

    type_name = "timestamp"


class EndlessDateLoader(EndlessLoader):
    """date, with 'infinity' and '-infinity' as the latest and earliest dates Python has."""

    type_name = "date"

    def far(self, moment: datetime) -> date:
        """The moment's day."""
        return moment.date()


def first_line(exc: BaseException) -> str:
    """An error's first line, escaped; its type's name when it says nothing."""
    lines = str(exc).strip().splitlines()
    return text.one_line(lines[0]) if lines else type(exc).__name__


def session_lost(conn: psycopg.Connection) -> str | None:
    """Why a session was lost (no reply in time, or a broken link); None while it is usable."""
    lost = getattr(conn, "lost", None)
    return str(lost) if lost is not None else None


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
    # Names may hold anything (a database called "x\n\x1b[31m"): escaped for any terminal or log.
    return text.escaped(f"{user + '@' if user else ''}{where}/{params.get('dbname') or user or ''}")


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
    """Open a connection with TCP keepalives; a check session is read-only and bounded in time: with
    a statement timeout, every round trip is given that and a grace, client-side too."""
    try:
        given = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        given = {}
    options: dict[str, Any] = {"application_name": APPLICATION_NAME, "connect_timeout": 10,
                               **{key: value for key, value in LINK_OPTIONS.items() if key not in given}}
    try:
        conn = Session.connect(url, autocommit=autocommit, **options)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise unreachable(url, exc) from None
    conn.statement_timeout_s = statement_timeout_s
    if conn.info.encoding == "ascii":
        # Only SQL_ASCII sends bytes its encoding does not vouch for; any other is checked by the
        # server, and psycopg's own (compiled) loader reads it several times faster.
        for text_type in TEXT_TYPES:
            conn.adapters.register_loader(text_type, TolerantTextLoader)
    conn.adapters.register_loader("timestamptz", EndlessTimestamptzLoader)
    conn.adapters.register_loader("timestamp", EndlessTimestampLoader)
    conn.adapters.register_loader("date", EndlessDateLoader)
    # set_config takes parameters, where SET would need the value spliced into the text.
    if read_only:
        # Every transaction psycopg begins is BEGIN READ ONLY, whatever a function does to the
        # session's default; and a statement outside one still meets the default.
        conn.read_only = True
        conn.execute("SELECT set_config('default_transaction_read_only', 'on', false)")
        # Timestamps in findings then read the same whatever the server's zone.
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
        # psycopg reads times written the ISO way only: a database or role set to another style
        # would make every time a read meets an error.
        conn.execute("SELECT set_config('DateStyle', 'ISO, MDY', false)")
        # A table's one read is read to its end: plan it for all its rows, not the first ones,
        # and do not compile it (that costs more than it saves on one pass).
        conn.execute("SELECT set_config('cursor_tuple_fraction', '1.0', false)")
        conn.execute("SELECT set_config('jit', 'off', false)")
        # A row-level security policy would hide rows from the checks without a word: with this
        # off, a read it would filter is an error instead.
        conn.execute("SELECT set_config('row_security', 'off', false)")
    if statement_timeout_s is not None:
        timeout_ms = str(round(statement_timeout_s * 1000))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout_ms,))
    if not autocommit:
        conn.commit()
    return conn


def limit_lock_waits(conn: psycopg.Connection, lock_timeout_s: float) -> None:
    """Give up on a lock after lock_timeout_s: a table another session locks errors its checks fast."""
    timeout_ms = str(round(lock_timeout_s * 1000))
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (timeout_ms,))


def expect_few_rows(conn: psycopg.Connection) -> None:
    """Tell the planner, for this transaction, that a read sends back few of the rows it scans."""
    # The planner cannot tell how few rows break a rule; it would keep a pass it could share
    # between workers to one process for fear of sending back most of the table.
    conn.execute("SELECT set_config('parallel_tuple_cost', '0.001', true)")


def server_info(conn: psycopg.Connection) -> ServerInfo:
    """Read the server's version and where the connection points."""
    row = conn.execute("SELECT current_setting('server_version'), current_database()").fetchone()
    assert row is not None
    host = conn.info.host or "localhost"
    return ServerInfo(host=host, database=str(row[1]), version=str(row[0]))

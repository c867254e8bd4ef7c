"""Apply, roll back and inspect the plain-SQL migrations with yoyo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import conninfo
from yoyo import get_backend, read_migrations

from tradewatch import db, resources

# The checkout's migrations/, or the installed package's copy (see tradewatch.resources).
MIGRATIONS_DIR = resources.MIGRATIONS
# The migrations a database already at Phase 1 has had by hand.
PHASE1_IDS = ("0001.base-schema", "0002.orders-table")


class MigrationError(RuntimeError):
    """A migration failed and its transaction was rolled back."""


@dataclass(frozen=True)
class MigrationState:
    """One migration and whether the database has it."""

    id: str
    applied: bool


def yoyo_url(url: str) -> str:
    """Rewrite a libpq URL or key=value string for yoyo's psycopg 3 backend."""
    params = conninfo.conninfo_to_dict(url)
    dbname = str(params.pop("dbname", "") or params.get("user") or "")
    # Every other parameter goes in the query string, where yoyo passes it to psycopg as is.
    query = urlencode({key: str(value) for key, value in params.items() if value is not None})
    return f"postgresql+psycopg:///{dbname}?{query}"


def migrations_dir() -> Path:
    """The migrations folder (the checkout's or the package's), or a clear error where it is missing."""
    if not MIGRATIONS_DIR.is_dir():
        raise FileNotFoundError(
            f"expected the migrations in {MIGRATIONS_DIR}; reinstall tradewatch from a wheel or its "
            "checkout (pip install .), whose build copies them into the package"
        )
    return MIGRATIONS_DIR


@contextmanager
def _backend(url: str) -> Iterator[tuple[Any, Any]]:
    try:
        backend = get_backend(yoyo_url(url))
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise db.unreachable(url, exc) from None
    try:
        yield backend, read_migrations(str(migrations_dir()))
    finally:
        backend.connection.close()


def status(url: str) -> list[MigrationState]:
    """Every migration in order, with whether the database has it applied."""
    with _backend(url) as (backend, migrations):
        pending = {m.id for m in backend.to_apply(migrations)}
        return [MigrationState(m.id, m.id not in pending) for m in migrations]


def pending_ids(url: str, *, target: str | None = None) -> list[str]:
    """The migrations apply would run, in order, up to and including target."""
    with _backend(url) as (backend, migrations):
        return _up_to(target, [m.id for m in backend.to_apply(migrations)])


def rollback_ids(url: str, *, target: str | None = None) -> list[str]:
    """The migrations rollback would undo, newest first, down to but excluding target."""
    with _backend(url) as (backend, migrations):
        applied = [m.id for m in backend.to_rollback(migrations)]
    if target is None:
        return applied[:1]
    if target == "zero":
        return applied
    _known(target, applied)
    return applied[: applied.index(target)]


def apply(url: str, *, target: str | None = None) -> list[str]:
    """Apply pending migrations in order (each in its own transaction); return their ids."""
    with _backend(url) as (backend, migrations), backend.lock():
        todo = _up_to(target, [m.id for m in backend.to_apply(migrations)])
        try:
            backend.apply_migrations(migrations.filter(lambda m: m.id in todo))
        except psycopg.Error as exc:
            raise MigrationError(_explain(exc)) from exc
        return todo


def rollback(url: str, *, target: str | None = None) -> list[str]:
    """Roll back the newest migration, or every one after target ('zero' for all)."""
    undo = rollback_ids(url, target=target)
    with _backend(url) as (backend, migrations), backend.lock():
        try:
            backend.rollback_migrations(backend.to_rollback(migrations).filter(lambda m: m.id in undo))
        except psycopg.Error as exc:
            raise MigrationError(_explain(exc)) from exc
    return undo


def resolve_id(url: str, target: str | None) -> str | None:
    """Expand a migration id's unique prefix ('0003' is '0003.order-purpose')."""
    if target is None or target == "zero":
        return target
    ids = [state.id for state in status(url)]
    matches = [i for i in ids if i == target or i.startswith(f"{target}.")]
    if len(matches) != 1:
        raise ValueError(f"no migration {target!r} here; expected one of {', '.join(ids)}")
    return matches[0]


def _explain(exc: psycopg.Error) -> str:
    """The server's message and hint, which say what was refused and how to proceed."""
    message = exc.diag.message_primary or str(exc).strip()
    return f"{message} (hint: {exc.diag.message_hint})" if exc.diag.message_hint else message


def baseline(url: str) -> list[str]:
    """Record the Phase 1 migrations as applied without running them (adopting a live database)."""
    with _backend(url) as (backend, migrations), backend.lock():
        todo = [m for m in backend.to_apply(migrations) if m.id in PHASE1_IDS]
        backend.mark_migrations(migrations.filter(lambda m: m in todo))
        return [m.id for m in todo]


def _known(target: str, ids: list[str]) -> None:
    if target not in ids:
        raise ValueError(f"no migration {target!r} here; expected one of {', '.join(ids) or 'none'}")


def _up_to(target: str | None, ids: list[str]) -> list[str]:
    if target is None:
        return ids
    _known(target, ids)
    return ids[: ids.index(target) + 1]

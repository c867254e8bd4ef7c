"""tradewatch migrate: apply, roll back or show the schema migrations."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import date
from typing import Any

import psycopg
from psycopg import conninfo

from tradewatch import db, migrate


def add_parser(subparsers: Any) -> None:
    """Declare the migrate subcommand."""
    parser = subparsers.add_parser(
        "migrate", help="apply, roll back or show the schema migrations",
        description="Bring a database to the post-Phase-2 schema. Writes only when asked.",
    )
    parser.add_argument("action", choices=("apply", "rollback", "status"), nargs="?", default="status")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="the database to migrate (default: $DATABASE_URL)")
    parser.add_argument("--to", dest="target", metavar="ID",
                        help="apply up to ID; roll back down to ID ('zero' for all)")
    parser.add_argument("--baseline", action="store_true",
                        help="adopt a database already at Phase 1: check that it has what 0001-0002 "
                             "make, record them as applied without running them, then apply the rest")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing")


def run(args: argparse.Namespace) -> int:
    """Show the plan, ask, then write; status only reads, and every refusal writes nothing."""
    if not args.database_url:
        print("tradewatch migrate: set DATABASE_URL or pass --database-url", file=sys.stderr)
        return os.EX_USAGE
    url, where = args.database_url, db.describe(args.database_url)
    try:
        return _run(args, url, where)
    except (migrate.MigrationError, ValueError) as exc:
        # One line per problem, each naming the migration it comes from.
        problems = exc.problems if isinstance(exc, migrate.MigrationError) else [str(exc)]
        for problem in problems:
            print(f"tradewatch migrate: {problem}", file=sys.stderr)
        return 1
    except db.DatabaseUnreachable as exc:
        print(f"tradewatch migrate: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        # What the server refused outside any one migration (yoyo's own tables, its lock): one line.
        print(f"tradewatch migrate: {db.first_line(exc)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, url: str, where: str) -> int:
    state = migrate.inspect(url)
    refusal = migrate.layout_refusal(state)
    if args.action == "status":
        if refusal:
            # Information, not a failure: the layout is simply not one tradewatch migrates.
            print(f"tradewatch migrate: {where}: {refusal}")
            return 0
        for each in state.states:
            print(f"{_state_word(each)}  {each.id}")
        return 0
    target = migrate.resolve_id(state.ids, args.target)
    if args.action == "apply":
        plan = migrate.plan_apply(state, target, baseline=args.baseline)
        lines = [f"record as applied (not run): {i}" for i in plan.baseline]
        lines += [f"apply: {i}" for i in plan.apply]
    else:
        plan = migrate.plan_rollback(state, target)
        lines = [f"roll back: {i}" for i in plan.rollback]
    if not lines:
        print(f"{where}: nothing to do")
        return 0
    print(f"Plan for {where}:")
    print("\n".join(f"  {line}" for line in lines))
    print(f"Take a backup first:\n  {_backup_command(url)}")
    if not args.yes and not _confirmed():
        print("Nothing written.")
        return 1
    if args.action == "apply":
        if plan.baseline:
            print(f"recorded {len(migrate.baseline(url))} migration(s) as applied (not run)")
        done = migrate.apply(url, target=target)
        print(f"applied {len(done)} migration(s)")
    else:
        done = migrate.rollback(url, target=target)
        print(f"rolled back {len(done)} migration(s)")
    return 0


def _state_word(state: migrate.MigrationState) -> str:
    """applied, baselined (recorded by --baseline, never run here) or pending."""
    if state.baselined:
        return "baselined"
    return "applied" if state.applied else "pending"


def _backup_command(url: str) -> str:
    """The pg_dump line for this database, without its password (pg_dump asks or reads .pgpass)."""
    params = conninfo.conninfo_to_dict(url)
    flags = {"host": "--host", "port": "--port", "user": "--username", "dbname": "--dbname"}
    parts = ["pg_dump", "--format=custom", f"--file=tradewatch-backup-{date.today():%Y%m%d}.dump"]
    parts += [f"{flag}={shlex.quote(str(params[key]))}" for key, flag in flags.items() if params.get(key)]
    return " ".join(parts)


def _confirmed() -> bool:
    """Ask on a terminal; without one, the answer is no (pass --yes in scripts)."""
    if not sys.stdin.isatty():
        print("Not a terminal: pass --yes to write without asking.", file=sys.stderr)
        return False
    return input("Write these changes? [y/N] ").strip().lower() in ("y", "yes")

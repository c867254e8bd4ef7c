"""tradewatch migrate: apply, roll back or show the schema migrations."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import date
from typing import Any

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
                        help="adopt a database already at Phase 1: record 0001-0002 as applied "
                             "without running them, then apply the rest")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing")


def run(args: argparse.Namespace) -> int:
    """Show the plan, ask, then write; status only reads."""
    if not args.database_url:
        print("tradewatch migrate: set DATABASE_URL or pass --database-url", file=sys.stderr)
        return os.EX_USAGE
    url, where = args.database_url, db.describe(args.database_url)
    try:
        return _run(args, url, where)
    except (migrate.MigrationError, ValueError) as exc:
        print(f"tradewatch migrate: {exc}", file=sys.stderr)
        return 1
    except db.DatabaseUnreachable as exc:
        print(f"tradewatch migrate: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, url: str, where: str) -> int:
    if args.action == "status":
        for state in migrate.status(url):
            print(f"{'applied' if state.applied else 'pending'}  {state.id}")
        return 0
    if args.action == "apply":
        target = migrate.resolve_id(url, args.target)
        marked = list(migrate.PHASE1_IDS) if args.baseline else []
        plan = [i for i in migrate.pending_ids(url, target=target) if i not in marked]
        lines = [f"record as applied (not run): {i}" for i in marked]
        lines += [f"apply: {i}" for i in plan]
    else:
        target = migrate.resolve_id(url, args.target)
        plan = migrate.rollback_ids(url, target=target)
        lines = [f"roll back: {i}" for i in plan]
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
        if args.baseline:
            migrate.baseline(url)
        done = migrate.apply(url, target=target)
        print(f"applied {len(done)} migration(s)")
    else:
        done = migrate.rollback(url, target=target)
        print(f"rolled back {len(done)} migration(s)")
    return 0


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

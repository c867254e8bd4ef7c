"""The tradewatch console script: one subcommand per module in tradewatch.commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import NoReturn

from tradewatch import text

# Each module has add_parser(subparsers) and run(args) -> exit code.
COMMANDS = ("check", "migrate", "summary", "alert", "fixes", "html", "metrics", "ack")


class UsageError(Exception):
    """The command line cannot be used; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised for main to report, not exited with code 2."""

    def error(self, message: str) -> NoReturn:
        # argparse exits 2, which a consumer of `tradewatch summary` would read as CRITICAL.
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand; return its exit code (64 for a usage error)."""
    parser = _Parser(prog="tradewatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('tradewatch')}")
    subparsers = parser.add_subparsers(dest="command", required=True)  # Subparsers are _Parsers too.
    modules = {name: importlib.import_module(f"tradewatch.commands.{name}") for name in COMMANDS}
    for module in modules.values():
        module.add_parser(subparsers)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(text.one_line(str(exc), 500), file=sys.stderr)
        return os.EX_USAGE
    code: int = modules[args.command].run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

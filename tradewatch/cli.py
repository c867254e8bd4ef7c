"""The tradewatch console script: one subcommand per module in tradewatch.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module has add_parser(subparsers) and run(args) -> exit code.
COMMANDS = ("migrate", "summary", "alert", "fixes", "html", "metrics")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand; return its exit code."""
    parser = argparse.ArgumentParser(prog="tradewatch", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = {name: importlib.import_module(f"tradewatch.commands.{name}") for name in COMMANDS}
    for module in modules.values():
        module.add_parser(subparsers)
    args = parser.parse_args(argv)
    code: int = modules[args.command].run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""tradewatch check: run the checks with pytest from any folder, with the settings they ship with."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tradewatch import resources


def add_parser(subparsers: Any) -> None:
    """Declare the check subcommand; everything after it is pytest's."""
    parser = subparsers.add_parser(
        "check", help="run the checks (pytest with tradewatch's checks and settings), from any folder",
        description="Run tradewatch's checks with pytest: its arguments pass through as they are "
                    "(tradewatch check --help lists them). The report is written where the settings "
                    "say, relative to the current folder (reports/tradewatch.json); the exit code "
                    "is pytest's.",
        # No option of its own, not even --help: every argument, dashes and all, is pytest's.
        add_help=False, prefix_chars="\0",
    )
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_ARGS",
                        help="pytest and tradewatch options, e.g. -k stuck -m 'not broker' --as-of ...")


def pytest_command(pytest_args: list[str], here: Path) -> list[str]:
    """The pytest command line that runs the checks with their ini settings, rooted at here."""
    # Installed, the whole shipped folder is named so the checks' ids read checks/test_x.py::...,
    # as they do in a checkout; it holds nothing else pytest collects.
    target = resources.SHIPPED if resources.ROOT == resources.SHIPPED else resources.CHECKS
    # -P: the current folder stays off sys.path, so a folder named tradewatch there is not imported.
    # -c: the checks' markers, thresholds and options; --rootdir: the report and pytest's cache
    # land under the current folder, not in the package. -p: the plugin by name, so it loads even
    # where PYTEST_DISABLE_PLUGIN_AUTOLOAD turns entry points off (where they are on, it loads once).
    return [sys.executable, "-P", "-m", "pytest", str(target), "-c", str(resources.INI),
            f"--rootdir={here}", "-p", "tradewatch.plugin", *pytest_args]


def run(args: argparse.Namespace) -> int:
    """Become the pytest run: signals reach it directly, and its exit code is the command's."""
    command = pytest_command(list(args.pytest_args), Path.cwd())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # noqa: S606 - this Python running pytest; no shell reads the arguments.

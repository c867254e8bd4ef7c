"""tradewatch summary: a checks report in the old watchdog's JSON shape, and its exit code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tradewatch import report


def add_parser(subparsers: Any) -> None:
    """Declare the summary subcommand."""
    parser = subparsers.add_parser(
        "summary", help="print a checks report in trade_watchdog.py's JSON shape",
        description="Print timestamp, duration_ms, pipeline, issues[] and summary{} of a checks "
                    "report. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 ERROR (a check could not run, "
                    "the run did not complete, or the report is missing or unreadable).",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    parser.add_argument("--max-age", type=float, metavar="MINUTES",
                        help="an older report is an ERROR (a scheduled run that wrote nothing)")


def run(args: argparse.Namespace) -> int:
    """Print the summary; say on stderr, in one line, why a run is an ERROR."""
    try:
        loaded = report.load(args.report)
    except report.ReportError as exc:
        summary = report.unreadable(str(exc))
        reason = str(exc)
    else:
        summary = report.summarize(loaded, max_age_minutes=args.max_age)
        errors = summary["errors"]
        reason = errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "") if errors else ""
    print(json.dumps(summary, indent=2 if args.pretty else None))
    if reason:
        print(f"tradewatch summary: ERROR: {reason}", file=sys.stderr)
    return report.exit_code(summary)

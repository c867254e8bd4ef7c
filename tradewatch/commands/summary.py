"""tradewatch summary: a checks report in the old watchdog's JSON shape, and its exit code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tradewatch import report

FORMATS = ("v1", "v2")


def add_parser(subparsers: Any) -> None:
    """Declare the summary subcommand."""
    parser = subparsers.add_parser(
        "summary", help="print a checks report in trade_watchdog.py's JSON shape",
        description="Print a checks report in trade_watchdog.py's JSON shape: v1 (timestamp, "
                    "duration_ms, pipeline, issues[], summary{}) or v2 (status, orders, positions, "
                    "daily_pnl, stuck_orders, unlinked_orders, alpaca{}, issues[], issue_summary{}). "
                    "Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 ERROR (a check could not run, the run did "
                    "not complete, or the report is missing or unreadable).",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("--format", choices=FORMATS, default="v1",
                        help="v1: the watchdog's 1.x shape (default); v2: its 2.0 shape")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    parser.add_argument("--max-age", type=float, metavar="MINUTES",
                        help="an older report is an ERROR (a scheduled run that wrote nothing)")


def run(args: argparse.Namespace) -> int:
    """Print the summary; say on stderr, in one line, why a run is an ERROR."""
    v2 = args.format == "v2"
    try:
        loaded = report.load(args.report)
    except report.ReportError as exc:
        summary = (report.unreadable_v2 if v2 else report.unreadable)(str(exc))
    else:
        summarize = report.summarize_v2 if v2 else report.summarize
        summary = summarize(loaded, max_age_minutes=args.max_age)
    # v1 lists its reasons under errors; v2 and the unreadable shapes give one line as error.
    reason = summary.get("error") or report.headline(summary.get("errors", []))
    print(json.dumps(summary, indent=2 if args.pretty else None))
    if reason:
        print(f"tradewatch summary: ERROR: {reason}", file=sys.stderr)
    return report.exit_code(summary)

"""tradewatch fixes: every fix a checks report proposes, as one SQL script to review."""

from __future__ import annotations

import argparse
import sys
from itertools import groupby
from typing import Any

from tradewatch import report, text
from tradewatch.fixes import FixData, FixDataError, statement


def add_parser(subparsers: Any) -> None:
    """Declare the fixes subcommand."""
    parser = subparsers.add_parser(
        "fixes", help="print the proposed fixes of a checks report as one SQL script",
        description="Print every proposed fix, grouped by finding type, inside BEGIN ... ROLLBACK. "
                    "Nothing is applied: review it, change ROLLBACK to COMMIT, and run it yourself.",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")


def run(args: argparse.Namespace) -> int:
    """Print the script; exit 3 when the report cannot be read."""
    try:
        loaded = report.load(args.report)
        printed = script(loaded)
    except report.ReportError as exc:
        print(f"tradewatch fixes: {exc}", file=sys.stderr)
        return 3
    except FixDataError as exc:
        print(f"tradewatch fixes: refusing the report: {exc}", file=sys.stderr)
        return 3
    print(printed, end="")
    return 0


def comment(line: str) -> str:
    """A one-line SQL comment: a newline in a message must not end it and start a statement."""
    return "-- " + text.one_line(str(line))


def script(loaded: report.Report) -> str:
    """The reviewable script: a comment per fix, grouped by type, ending in ROLLBACK."""
    seen: set[str] = set()
    fixable = []
    for issue in report.issues(loaded):
        if issue.get("fix_data") and issue["fingerprint"] not in seen:
            seen.add(issue["fingerprint"])
            fixable.append(issue)
    fixable.sort(key=lambda issue: issue["type"])  # Stable: report order within a type.
    meta = loaded["tradewatch"]
    database = meta.get("database", {})
    lines = [
        comment(f"Fixes proposed by tradewatch {meta['version']} for database "
                f"{database.get('name', '?')} on {database.get('host', '?')}, as of "
                f"{report.timestamp(loaded)}" + (" (DEMO data)" if meta.get("demo") else "")),
        "-- Nothing has been applied. Review every statement; each only touches the row it names.",
        "-- To apply: change ROLLBACK at the end to COMMIT, then run this file with",
        "--   psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -f fixes.sql",
    ]
    incomplete = report.problems(loaded)
    if incomplete:
        lines.append("-- WARNING: this run was incomplete, so this list may be too:")
        lines += [comment(problem) for problem in incomplete]
    lines += ["", "BEGIN;", ""]
    if not fixable:
        lines += ["-- No finding of this report proposes a fix.", ""]
    for finding_type, group in groupby(fixable, key=lambda issue: issue["type"]):
        members = list(group)
        lines.append(comment(f"== {finding_type} ({len(members)}) =="))
        for issue in members:
            lines.append(comment(f"{issue['severity']}: {issue['message']} [{issue['fingerprint']}]"))
            # Built here from the fix's data: SQL text in a report is never printed.
            lines += [statement(FixData.from_json(issue["fix_data"])), ""]
    lines += ["-- Change ROLLBACK to COMMIT once every statement above is reviewed.", "ROLLBACK;", ""]
    return "\n".join(lines)

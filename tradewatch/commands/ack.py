"""tradewatch ack: acknowledge a finding of a report in the file of known findings, with a reason,
an owner and an expiry."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tradewatch import acks, report, text

DEFAULT_FILE = "known-findings.toml"
USAGE = 64


def add_parser(subparsers: Any) -> None:
    """Declare the ack subcommand."""
    parser = subparsers.add_parser(
        "ack", help="acknowledge a finding: it stops failing its check and being alerted until it expires",
        description="Acknowledge a finding of a checks report by its fingerprint: it is then reported as "
                    "acknowledged, does not fail its check and is not alerted, until --until passes or "
                    "what it observed changes. The entry goes into the file of known findings, which is "
                    "reviewed like code. Exit 0 when written, 1 when the report holds no such finding, "
                    "3 when the report or the file cannot be read, 64 for a usage error.",
    )
    parser.add_argument("fingerprint", help="the finding's fingerprint (the report's, the HTML page's)")
    parser.add_argument("--reason", required=True, help="why it is tolerated (a ticket, a decision)")
    parser.add_argument("--until", required=True, type=date.fromisoformat, metavar="DATE",
                        help="the last day it holds, in the market's zone, e.g. 2026-01-31")
    parser.add_argument("--owner", default=None, help="who answers for it (default: the current user)")
    parser.add_argument("--report", default="reports/tradewatch.json",
                        help="the checks report that holds the finding (default: reports/tradewatch.json)")
    parser.add_argument("--file", type=Path, default=Path(DEFAULT_FILE),
                        help=f"the file of known findings (default: ./{DEFAULT_FILE}, the ini's default)")


def run(args: argparse.Namespace) -> int:
    """Find the finding in the report and write its acknowledgement."""
    owner = (getpass.getuser() if args.owner is None else args.owner).strip()
    refused = _refused(args.reason.strip(), owner)
    if refused:
        print(f"tradewatch ack: {refused}", file=sys.stderr)
        return USAGE
    try:
        loaded = report.load(args.report)
    except report.ReportError as exc:
        print(f"tradewatch ack: {exc}", file=sys.stderr)
        return 3
    # Today as the run judges an acknowledgement's last day: in the market's zone.
    zone = str(loaded["tradewatch"].get("market", {}).get("zone") or "UTC")
    if args.until < datetime.now(ZoneInfo(zone)).date():
        print(f"tradewatch ack: --until {args.until} has passed ({zone})", file=sys.stderr)
        return USAGE
    found = _found(loaded, args.fingerprint)
    if not found or "state" not in found[0]:
        print(f"tradewatch ack: {args.report} holds no finding {text.shown(args.fingerprint, 40)}",
              file=sys.stderr)
        return 1
    try:
        ack = acks.add(args.file, found[0], args.reason.strip(), owner, args.until)
    except (acks.AckError, OSError) as exc:
        print(f"tradewatch ack: {text.one_line(str(exc), 300)}", file=sys.stderr)
        return 3
    print(f"acknowledged {ack.type} {ack.fingerprint} until {ack.until} in {args.file}")
    return 0


def _refused(reason: str, owner: str) -> str | None:
    """Why the reason or the owner cannot go into the file of known findings (None when both can)."""
    for option, value in (("--reason", reason), ("--owner", owner)):
        if not value:
            return f"{option} must not be blank"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # The shell passed bytes that are not UTF-8: the file could not hold them.
            return f"{option} is not valid UTF-8 text"
    return None


def _found(loaded: report.Report, fingerprint: str) -> list[dict[str, Any]]:
    """The report's findings of a fingerprint, each with the case of the check that found it."""
    return [{**finding, "case": meta.get("case")}
            for meta in (test.get("metadata", {}) for test in loaded["tests"])
            for finding in meta.get("findings", []) if finding["fingerprint"] == fingerprint]

"""tradewatch alert: notify new and resolved findings of a checks report, once each."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tradewatch import alerting, report
from tradewatch.findings import SEVERITIES

DEFAULT_STATE = "reports/alert-state.json"
URLS_VARIABLE = "TRADEWATCH_ALERT_URLS"


def add_parser(subparsers: Any) -> None:
    """Declare the alert subcommand."""
    parser = subparsers.add_parser(
        "alert", help="notify new and resolved findings (Slack, Discord, Telegram, e-mail, webhooks)",
        description="Send what changed since the last run to apprise notification URLs: new "
                    "findings once, resolved ones once, and a notice when checks could not run. "
                    "Exit 0 when everything due was delivered, 1 when a delivery failed (the state "
                    "is kept, so the next run tries again), 64 when no usable URL was given.",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("--to", nargs="+", action="extend", metavar="URL", default=[],
                        help=f"apprise URLs, e.g. slack://..., mailto://..., json://host:port/path "
                             f"(default: ${URLS_VARIABLE}, separated by spaces, which keeps "
                             f"tokens off the command line)")
    parser.add_argument("--min-severity", choices=SEVERITIES, default="WARNING",
                        help="announce findings from this severity up (default: WARNING)")
    parser.add_argument("--state", type=Path, default=Path(DEFAULT_STATE),
                        help=f"where the findings already announced are kept (default: {DEFAULT_STATE})")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be sent; send nothing and keep the state as it is")


def run(args: argparse.Namespace) -> int:
    """Plan the notices from report and state, deliver them, then remember what was said."""
    urls = args.to or os.environ.get(URLS_VARIABLE, "").split()
    if not urls and not args.dry_run:
        print(f"tradewatch alert: pass --to URL or set {URLS_VARIABLE}", file=sys.stderr)
        return os.EX_USAGE
    try:
        loaded, unreadable = report.load(args.report), None
    except report.ReportError as exc:
        loaded, unreadable = None, str(exc)
    state = alerting.load_state(args.state)
    planned = alerting.plan(loaded, state, min_severity=args.min_severity, unreadable=unreadable)
    secrets = alerting.secrets_from_env(os.environ)
    if args.dry_run:
        for notice in planned.notices:
            print(alerting.redact(f"[{notice.kind}] {notice.title}\n{notice.body}\n", secrets))
        return 0
    try:
        delivered = alerting.deliver(urls, planned.notices, secrets) if planned.notices else True
    except alerting.AlertError as exc:
        print(f"tradewatch alert: {exc}", file=sys.stderr)
        return os.EX_USAGE
    if not delivered:
        print("tradewatch alert: a notification was not delivered; the next run sends it again",
              file=sys.stderr)
        return 1
    alerting.save_state(args.state, planned.state)
    print(f"tradewatch alert: {len(planned.notices)} notification(s) sent, "
          f"{len(planned.state['open'])} finding(s) open")
    return 0

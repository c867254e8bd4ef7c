"""tradewatch alert: notify new and resolved findings of a checks report, once each."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tradewatch import alerting, report, text
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
                    "is kept, so the next run tries again), 3 when the report is unreadable (its "
                    "notice is sent all the same), 64 without a usable URL or a writable state.",
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
    to = None
    if not args.dry_run:
        try:
            if not urls:
                raise alerting.AlertError(f"pass --to URL or set {URLS_VARIABLE}")
            to = alerting.sender(urls)
            alerting.check_writable(args.state)  # Before anything is sent.
        except alerting.AlertError as exc:
            return _say(str(exc), os.EX_USAGE)
    try:
        loaded, unreadable = report.load(args.report), None
    except report.ReportError as exc:
        loaded, unreadable = None, str(exc)
    # An unreadable report is announced (once) like a run that errored, and exits 3 as summary does.
    failed = 3 if unreadable else 0
    secrets = alerting.secrets_from_env(os.environ)
    if to is None:
        planned = alerting.plan(loaded, alerting.load_state(args.state), min_severity=args.min_severity,
                                unreadable=unreadable)
        for notice in planned.notices:
            print(alerting.redact(f"[{notice.kind}] {notice.title}\n{notice.body}\n", secrets))
        return _say(f"ERROR: {unreadable}", failed) if unreadable else 0
    try:
        # One run at a time: a second waits, then finds what the first sent in the state.
        with alerting.state_lock(args.state, on_wait=lambda: _say(
                f"waiting for another tradewatch alert to finish with {text.shown(args.state)}", 0)):
            planned = alerting.plan(loaded, alerting.load_state(args.state),
                                    min_severity=args.min_severity, unreadable=unreadable)
            delivered = alerting.deliver(to, planned.notices, secrets) if planned.notices else True
            if delivered:
                alerting.save_state(args.state, planned.state)
    except alerting.AlertError as exc:
        return _say(f"{exc}; nothing was sent", failed or 1)
    except OSError as exc:
        return _say(f"cannot keep the state {text.shown(args.state)}: {exc.strerror or exc}; "
                    "the next run may send the same notices again", failed or 1)
    if unreadable:
        redelivery = "" if delivered else " (its notice was not delivered; the next run sends it again)"
        return _say(f"ERROR: {unreadable}{redelivery}", failed)
    if not delivered:
        return _say("a notification was not delivered; the next run sends it again", 1)
    print(f"tradewatch alert: {len(planned.notices)} notification(s) sent, "
          f"{len(planned.state['open'])} finding(s) open")
    return 0


def _say(line: str, code: int) -> int:
    """Print one line on stderr; return the exit code."""
    print(text.one_line(f"tradewatch alert: {line}", 1000), file=sys.stderr)
    return code

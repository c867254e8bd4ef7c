"""tradewatch html: a checks report as one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tradewatch import files, html_report, report


def add_parser(subparsers: Any) -> None:
    """Declare the html subcommand."""
    parser = subparsers.add_parser(
        "html", help="write a checks report as one self-contained HTML page",
        description="Write the report as one HTML page (inline CSS, no script, nothing fetched): "
                    "status, pipeline, findings by severity and type with their proposed fixes, "
                    "checks that could not run, rules not applicable, acknowledged findings. "
                    "Exit 0 when written, 3 when the report cannot be read or the page not written.",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="the page to write (replaced whole, never half-written)")


def run(args: argparse.Namespace) -> int:
    """Render the page and write it atomically; one line on stderr when that cannot be done."""
    try:
        page = html_report.render(report.load(args.report))
    except report.ReportError as exc:
        print(f"tradewatch html: {exc}", file=sys.stderr)
        return 3
    try:
        files.write_atomically(args.output, page)
    except OSError as exc:
        print(f"tradewatch html: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 3
    return 0

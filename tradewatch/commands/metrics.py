"""tradewatch metrics: a checks report as OpenMetrics text for Prometheus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tradewatch import files, metrics, report


def add_parser(subparsers: Any) -> None:
    """Declare the metrics subcommand."""
    parser = subparsers.add_parser(
        "metrics", help="print or write a checks report as OpenMetrics text",
        description="Findings by type and severity, checks by outcome, the run's status (0 OK .. "
                    "3 ERROR), duration, report time and the as-of of the last complete run, as "
                    "OpenMetrics text for node_exporter's textfile collector or a Pushgateway. "
                    "Exit 0 when written, 3 when the report cannot be read or the file not written.",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here, replacing the file whole (default: print to stdout); an "
                             "incomplete run keeps the last complete run's as-of found in it")


def _carried(path: Path | None) -> float | None:
    """The last complete run's as-of in the file about to be replaced; None without one."""
    if path is None:
        return None
    try:
        previous = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        print(f"tradewatch metrics: cannot read the previous {path} ({exc}); "
              "the last complete run's as-of is not carried over", file=sys.stderr)
        return None
    try:
        return metrics.last_complete_as_of(previous)
    except metrics.PreviousMetricsError as exc:
        print(f"tradewatch metrics: the previous {path} is not OpenMetrics ({text_of(exc)}); "
              "the last complete run's as-of is not carried over", file=sys.stderr)
        return None


def text_of(exc: Exception) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def run(args: argparse.Namespace) -> int:
    """Print or atomically write the metrics; one line on stderr when that cannot be done."""
    try:
        loaded = report.load(args.report)
        exposition = metrics.exposition(loaded, carried_last_complete=_carried(args.output))
    except report.ReportError as exc:
        print(f"tradewatch metrics: {exc}", file=sys.stderr)
        return 3
    if args.output is None:
        sys.stdout.write(exposition)
        return 0
    try:
        files.write_atomically(args.output, exposition)
    except OSError as exc:
        print(f"tradewatch metrics: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 3
    return 0

"""tradewatch fixes: every fix a checks report proposes, as one SQL script to review."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

import iniconfig

from tradewatch import report, text
from tradewatch.fixes import FixData, FixDataError, Target, allowed_targets, check_target, merged, statement
from tradewatch.schema_map.profiles import PROFILES
from tradewatch.schema_map.resolve import SchemaMapError, parse_overrides


def add_parser(subparsers: Any) -> None:
    """Declare the fixes subcommand."""
    parser = subparsers.add_parser(
        "fixes", help="print the proposed fixes of a checks report as one SQL script",
        description="Print every proposed fix, one statement per row (the broker's truth first), "
                    "grouped by finding type, inside BEGIN ... ROLLBACK. Nothing is applied: review it, "
                    "change ROLLBACK to COMMIT, and run it yourself.",
    )
    parser.add_argument("report", help="the JSON report of a checks run (reports/tradewatch.json)")
    parser.add_argument("--ini", type=Path, default=Path("pytest.ini"),
                        help="the pytest.ini whose tradewatch_schema names your tables and columns "
                             "(default: ./pytest.ini); fixes touch only those and the profiles'")


def run(args: argparse.Namespace) -> int:
    """Print the script; exit 3 when the report cannot be read."""
    try:
        loaded = report.load(args.report)
        printed = script(loaded, allowed_targets(layouts(args.ini)))
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


def script(loaded: report.Report, allowed: Mapping[str, Target]) -> str:
    """The reviewable script: one statement per row, grouped by type, inside BEGIN ... ROLLBACK."""
    rows: dict[tuple[str, Any], list[tuple[dict[str, Any], FixData]]] = {}
    seen: set[str] = set()
    for issue in report.issues(loaded):
        if not issue.get("fix_data") or issue["fingerprint"] in seen:
            continue
        seen.add(issue["fingerprint"])
        fix = FixData.from_json(issue["fix_data"])
        check_target(fix, allowed)
        rows.setdefault(fix.row, []).append((issue, fix))
    statements = []
    for proposals in rows.values():
        fix, left_out = merged([fix for _, fix in proposals])
        settled = [issue for place, (issue, _) in enumerate(proposals) if place not in left_out]
        settled.sort(key=lambda issue: fix.source != issue["fix_data"]["source"])
        statements.append((settled, [proposals[place][0] for place in left_out], fix))
    statements.sort(key=lambda entry: entry[0][0]["type"])  # Stable: report order within a type.
    lines = _header(loaded)
    if not statements:
        lines += ["-- No finding of this report proposes a fix.", ""]
    for finding_type, group in groupby(statements, key=lambda entry: entry[0][0]["type"]):
        members = list(group)
        lines.append(comment(f"== {finding_type} ({len(members)}) =="))
        for settled, superseded, fix in members:
            lines += [comment(f"{issue['severity']}: {issue['message']} [{issue['fingerprint']}]")
                      for issue in settled]
            lines += [comment(f"left out, the row is fixed above ({fix.source}'s truth first): "
                              f"{issue['severity']} {issue['type']}: {issue['message']} "
                              f"[{issue['fingerprint']}]") for issue in superseded]
            # Built here from the fix's data: SQL text in a report is never printed.
            lines += [statement(fix), ""]
    lines += ["-- Change ROLLBACK to COMMIT once every statement above is reviewed.", "ROLLBACK;", ""]
    return "\n".join(lines)


def _header(loaded: report.Report) -> list[str]:
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
    return [*lines, "", "BEGIN;", ""]


def layouts(ini: Path | None) -> Sequence[Mapping[str, str | None]]:
    """The layouts fixes may touch: every profile's, and each with the local ini's schema overrides."""
    names = [dict(profile.names) for profile in PROFILES.values()]
    if ini is None or not ini.is_file():
        return names
    try:
        section = iniconfig.IniConfig(ini).sections.get("pytest", {})
    except iniconfig.ParseError as exc:
        raise FixDataError(f"cannot read {ini}: {exc}") from None
    lines = [line for line in str(section.get("tradewatch_schema", "")).splitlines() if line.strip()]
    try:
        overrides = parse_overrides(lines)
    except SchemaMapError as exc:
        raise FixDataError(f"{ini}: {exc}") from None
    return [*names, *({**layout, **overrides} for layout in names)]

"""A checks report as one self-contained HTML page: what a person reads after a run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import groupby
from typing import Any

import jinja2

from tradewatch import report, text
from tradewatch.findings import ENTITY_KEYS, SEVERITIES

# Characters of one stored value shown on the page; the JSON report keeps every value whole.
DISPLAY_LIMIT = 2000

Rows = list[tuple[str, str]]


def shown(value: object) -> str:
    """A stored value as a person should see it: text as is, anything else as JSON; escaped, cut."""
    raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.cut(text.escaped(raw), DISPLAY_LIMIT)


def rows(mapping: Mapping[str, Any]) -> Rows:
    """Each key and value of a mapping, shown."""
    return [(shown(key), shown(value)) for key, value in mapping.items()]


@dataclass(frozen=True)
class FindingView:
    """One finding as the page shows it."""

    severity: str
    type: str
    check: str
    keys: Rows
    message: str
    details: Rows
    fix: str | None
    fingerprint: str
    rule: str | None
    acknowledged: Rows


@dataclass(frozen=True)
class Group:
    """Findings of one severity and type."""

    severity: str
    type: str
    findings: list[FindingView]


@dataclass(frozen=True)
class Page:
    """Everything the template shows, every stored value already made safe to read."""

    title: str
    status: str
    demo: bool
    run_error: str | None
    header: Rows
    counts: Rows
    pipeline: Rows | None
    has_pipeline: bool
    live: dict[str, list[Group]]
    omitted: int
    errored: Rows
    problems: list[str]  # Why the run is an ERROR, one line each (report.problems).
    why: list[str]  # The same, less the run's own error when the page shows it apart.
    not_applicable: list[tuple[str, str, str]]
    acknowledged: list[FindingView]
    stale_acknowledgements: list[Rows]


def _finding(issue: Mapping[str, Any]) -> FindingView:
    """One finding (a report.issues entry), every value shown."""
    acknowledged = issue.get("acknowledged")
    return FindingView(
        severity=shown(issue["severity"]),
        type=shown(issue["type"]),
        check=shown(issue["check"]),
        keys=[(key, shown(issue[key])) for key in ENTITY_KEYS if issue.get(key) is not None],
        message=shown(issue["message"]),
        details=rows(issue.get("details") or {}),
        fix=shown(issue["fix"]) if issue.get("fix") else None,
        fingerprint=shown(issue["fingerprint"]),
        rule=shown(issue["rule"]) if issue.get("rule") else None,
        acknowledged=[(key, shown(acknowledged.get(key, ""))) for key in ("reason", "owner", "until")]
        if isinstance(acknowledged, Mapping) else [],
    )


def _ordered(issues: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Worst severity first, then by type; report order within a type."""
    return sorted(issues, key=lambda issue: (SEVERITIES.index(issue["severity"]), issue["type"]))


def _grouped(issues: Iterable[Mapping[str, Any]]) -> dict[str, list[Group]]:
    """Findings by severity (every severity present, maybe empty), then by type."""
    by_severity: dict[str, list[Group]] = {level: [] for level in SEVERITIES}
    for (severity, finding_type), members in groupby(
        _ordered(issues), key=lambda issue: (issue["severity"], issue["type"])
    ):
        views = [_finding(issue) for issue in members]
        by_severity[severity].append(Group(shown(severity), shown(finding_type), views))
    return by_severity


def _not_applicable(loaded: report.Report) -> list[tuple[str, str, str]]:
    """Rules that do not apply to this schema: check, rule and reason, each listed once."""
    listed: list[tuple[str, str, str]] = []
    for entry in loaded["tradewatch"].get("not_applicable", []):
        listed.append((shown(entry["check"]), shown(entry.get("rule") or ""), shown(entry["reason"])))
    for test in loaded["tests"]:
        meta = test.get("metadata", {})
        if meta.get("not_applicable"):
            row = (shown(test["nodeid"]), shown(meta.get("rule") or ""), shown(meta["not_applicable"]))
            if row not in listed:
                listed.append(row)
    return listed


def _header(loaded: report.Report, summary: report.Report) -> Rows:
    """What was checked, when, and by which version."""
    meta = loaded["tradewatch"]
    database = meta.get("database") or {}
    written = datetime.fromtimestamp(loaded["created"], UTC).isoformat(timespec="seconds")
    header: Rows = [
        ("database", f"{shown(database.get('name', '?'))} on {shown(database.get('host', '?'))}"),
        ("data", "DEMO (the embedded demo desk, not a live database)" if meta.get("demo") else "live"),
        ("as of", shown(summary["timestamp"])),
    ]
    if meta.get("profile"):
        header.append(("profile", shown(meta["profile"])))
    if database.get("server_version"):
        header.append(("PostgreSQL", shown(database["server_version"])))
    if meta.get("broker"):
        header.append(("broker", shown(meta["broker"].get("mode", "?"))))
    if meta.get("market"):
        market = meta["market"]
        session = {True: "in session", False: "outside the session"}.get(market.get("in_session"), "")
        header.append(("market", " ".join(shown(part) for part in (
            market.get("calendar", ""), market.get("zone", ""), session) if part)))
    header += [
        ("written", written),
        ("duration", f"{loaded['duration']:.2f} s"),
        ("tradewatch", shown(meta["version"])),
    ]
    return header


def page(loaded: report.Report) -> Page:
    """What the page shows of a loaded report."""
    summary = report.summarize(loaded)
    found = report.issues(loaded)
    live = [issue for issue in found if not issue.get("acknowledged")]
    acknowledged = [issue for issue in found if issue.get("acknowledged")]
    meta = loaded["tradewatch"]
    status = summary["summary"]["status"]
    database = meta.get("database") or {}
    counts: Rows = [(level, str(sum(1 for issue in live if issue["severity"] == level)))
                    for level in SEVERITIES]
    counts.append(("acknowledged", str(len(acknowledged))))
    errored: Rows = [
        (shown(test["nodeid"]), shown(test.get("metadata", {}).get("error") or "no reason recorded"))
        for test in loaded["tests"] if test["outcome"] == "error"
    ]
    stale = (meta.get("acknowledgements") or {}).get("stale", [])
    return Page(
        title=f"tradewatch {status}: {shown(database.get('name', 'report'))}",
        status=status,
        demo=bool(meta.get("demo")),
        run_error=shown(meta["error"]) if meta.get("error") else None,
        header=_header(loaded, summary),
        counts=counts,
        pipeline=rows(meta["pipeline"]) if meta.get("pipeline") else None,
        has_pipeline="pipeline" in meta,
        live=_grouped(live),
        omitted=summary["issues_omitted"],
        errored=errored,
        problems=[shown(problem) for problem in summary["errors"]],
        # The run's own error leads report.problems and has its own box: "why" is the next reason.
        why=[shown(problem) for problem in summary["errors"][1 if meta.get("error") else 0:]],
        not_applicable=_not_applicable(loaded),
        acknowledged=[_finding(issue) for issue in _ordered(acknowledged)],
        stale_acknowledgements=[rows(entry) for entry in stale if isinstance(entry, Mapping)],
    )


@cache
def _environment() -> jinja2.Environment:
    """Templates shipped in the package; every value is HTML-escaped unless marked safe."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tradewatch", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(loaded: report.Report) -> str:
    """The whole page for a loaded report."""
    return _environment().get_template("report.html.j2").render(page=page(loaded), severities=SEVERITIES)

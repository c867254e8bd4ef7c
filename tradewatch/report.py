"""Reading a checks report, and the watchdog-shaped summary that alerting consumes."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

import jsonschema

from tradewatch import text
from tradewatch.findings import SEVERITIES

# HEALTHY is the watchdog v2.0 name of OK.
STATUS_EXIT_CODES = {"OK": 0, "HEALTHY": 0, "WARNING": 1, "CRITICAL": 2, "ERROR": 3}
# A real report nests about eight levels; anything far deeper is refused before it is walked.
MAX_DEPTH = 100
# Finding types whose counts the watchdog v2.0 shape carries.
V2_COUNTED = {"stuck_orders": "STUCK_ORDER", "unlinked_orders": "UNLINKED_ORDER"}
RAN = ("passed", "failed", "error", "xfailed", "xpassed")
PYTEST_EXIT_NAMES = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}

Report = dict[str, Any]


class ReportError(Exception):
    """The report is missing, unreadable, or not a tradewatch checks report."""


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a checks report, shipped in the package."""
    loaded: dict[str, Any] = json.loads(
        files("tradewatch").joinpath("schemas/report.schema.json").read_text(encoding="utf-8")
    )
    return loaded


def validation_errors(data: Any) -> list[str]:
    """Where data breaks the report schema, one line each; empty when it conforms."""
    validator = jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    found = sorted(validator.iter_errors(data), key=lambda error: list(map(str, error.absolute_path)))
    return [f"{text.shown(error.json_path)}: {text.shown(error.message)}" for error in found]


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (strict JSON only)")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"the number {text.shown(number, 40)} is out of range")
    return value


def _integer(number: str) -> int:
    # An integer past a double's largest value (about 1.8e308) is refused as 1e400 is: readers take
    # numbers as doubles (metrics, html) and would overflow. Up to it, integers stay exact, as bigint
    # keys past 2**53 must. That value has 309 digits: int() never reads a longer number.
    value = int(number) if len(number.lstrip("-")) <= 309 else None
    if value is None or abs(value) > sys.float_info.max:
        raise ValueError(f"the number {text.shown(number, 40)} is out of range")
    return value


def _depth(data: Any) -> int:
    """How deeply arrays and objects nest in data, walked without recursion; stops past MAX_DEPTH."""
    deepest, pending = 0, [(data, 1)]
    while pending and deepest <= MAX_DEPTH:
        value, level = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            pending.extend((item, level + 1) for item in (value.values() if isinstance(value, dict)
                                                          else value))
    return deepest


def parse_strict(raw: bytes) -> Any:
    """UTF-8 strict JSON: no NaN or Infinity, numbers a double can hold, nesting within MAX_DEPTH."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(decoded, parse_constant=_refuse_constant, parse_float=_finite,
                          parse_int=_integer)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return data


def load(path: str | Path) -> Report:
    """Read and validate a report; raise ReportError saying, in one line, what is wrong with it."""
    named = text.shown(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ReportError(f"no report at {named}: the checks did not run or did not finish") from None
    except OSError as exc:
        raise ReportError(f"cannot read report {named}: {exc.strerror or type(exc).__name__}") from None
    try:
        data = parse_strict(raw)
    except ValueError as exc:
        raise ReportError(f"report {named} is not JSON: {text.shown(exc)}") from None
    errors = validation_errors(data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ReportError(f"report {named} is not a tradewatch checks report: {errors[0]}{more}")
    report: Report = data
    return report


def issues(report: Report) -> list[dict[str, Any]]:
    """Every finding of every check, INFO included, each with the check that found it."""
    return [
        {**finding, "check": test["nodeid"]}
        for test in report["tests"]
        for finding in test.get("metadata", {}).get("findings", [])
    ]


def omitted(report: Report) -> int:
    """Findings counted but left out of the report by the findings cap."""
    return sum(
        meta.get("finding_count", 0) - len(meta.get("findings", []))
        for meta in (test.get("metadata", {}) for test in report["tests"])
    )


def checks_ran(report: Report) -> set[str]:
    """Node ids of the checks that looked at their data (passed or failed, not errored)."""
    return {test["nodeid"] for test in report["tests"] if test["outcome"] in ("passed", "failed")}


def problems(
    report: Report, *, now: datetime | None = None, max_age_minutes: float | None = None
) -> list[str]:
    """Why the run cannot be trusted as a whole, one line each; empty when it can."""
    found: list[str] = []
    said = report["tradewatch"].get("error")
    if said:  # The run's own reason (unreachable, a deadline passed) says most: it comes first.
        found.append(_one_line(str(said)))
    code = report["exitcode"]
    if code not in (0, 1):
        name = PYTEST_EXIT_NAMES.get(code, "failed")
        found.append(f"the run did not complete: pytest exit code {code} ({name})")
    if not any(test["outcome"] in RAN for test in report["tests"]):
        found.append("no check ran")
    for test in report["tests"]:
        meta = test.get("metadata", {})
        if test["outcome"] == "error":
            why = _one_line(meta.get("error") or _why(test))
            found.append(f"{text.shown(test['nodeid'])} could not run: {why}")
        elif test["outcome"] == "failed" and not any(
            finding["severity"] != "INFO" for finding in meta.get("findings", [])
        ) and meta.get("finding_count", 0) <= len(meta.get("findings", [])):
            found.append(f"{text.shown(test['nodeid'])} failed without a finding: {_one_line(_why(test))}")
    if max_age_minutes is not None:
        age = ((now or datetime.now(UTC)).timestamp() - report["created"]) / 60
        if age > max_age_minutes:
            found.append(f"the report is {age:.0f} min old (limit {max_age_minutes:g}): "
                         "the last checks run wrote none")
    return found


def _one_line(said: str) -> str:
    """Text folded into one line of single spaces, the rest of its unsafe characters escaped, cut."""
    return text.shown(" ".join(said.split()))


def _why(test: dict[str, Any]) -> str:
    """The first line of what went wrong in a test's setup, call or teardown."""
    for stage in ("setup", "call", "teardown"):
        part = test.get(stage, {})
        if part.get("outcome") in ("failed", "error"):
            said = part.get("crash", {}).get("message") or str(part.get("longrepr") or "")
            return said.strip().splitlines()[0] if said.strip() else f"{stage} failed"
    return "no reason recorded"


def timestamp(report: Report) -> str:
    """When the checked data was looked at: the run's as-of, else when the report was written."""
    as_of = report["tradewatch"].get("as_of")
    return str(as_of) if as_of else datetime.fromtimestamp(report["created"], UTC).isoformat()


def summarize(report: Report, *, now: datetime | None = None, max_age_minutes: float | None = None) -> Report:
    """The report in the old trade_watchdog.py JSON shape, plus the reasons for an ERROR."""
    found = issues(report)
    errors = problems(report, now=now, max_age_minutes=max_age_minutes)
    # An acknowledged finding is listed, but counts toward no status: a person tolerates it.
    counts = {level: sum(1 for issue in found if issue["severity"] == level and not issue.get("acknowledged"))
              for level in SEVERITIES}
    if errors:
        status = "ERROR"
    elif counts["CRITICAL"]:
        status = "CRITICAL"
    elif counts["WARNING"]:
        status = "WARNING"
    else:
        status = "OK"
    meta = report["tradewatch"]
    summary: Report = {
        "timestamp": timestamp(report),
        "duration_ms": round(report["duration"] * 1000),
        "demo": meta.get("demo", False),
        "pipeline": meta.get("pipeline"),
        "issues": found,
        "issues_omitted": omitted(report),
        "errors": errors,
        "summary": {
            "total_issues": sum(counts.values()),
            "critical": counts["CRITICAL"],
            "warnings": counts["WARNING"],
            "info": counts["INFO"],
            "acknowledged": sum(1 for issue in found if issue.get("acknowledged")),
            "status": status,
        },
    }
    # A run of a few checks (-k, -m) says nothing of the others: partial, whatever its status.
    unselected = meta.get("selection", {}).get("unselected", [])
    summary["partial"] = bool(unselected)
    summary["unselected_checks"] = len(unselected)
    if "broker" in meta:
        summary["broker"] = meta["broker"]
    return summary


def headline(errors: list[str]) -> str:
    """The first reason for an ERROR, saying how many more there are."""
    return errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "") if errors else ""


def summarize_v2(report: Report, *, now: datetime | None = None,
                 max_age_minutes: float | None = None) -> Report:
    """The report in the watchdog v2.0 shape; a count the report does not carry is null."""
    v1 = summarize(report, now=now, max_age_minutes=max_age_minutes)
    status = v1["summary"]["status"]
    meta = report["tradewatch"]
    desk, broker = meta.get("desk", {}), meta.get("broker", {})
    found = v1["issues"]
    # A count of findings is known only when every check looked and the cap left none out.
    complete = status != "ERROR" and not v1["issues_omitted"]
    summary: Report = {
        "timestamp": v1["timestamp"],
        "status": "HEALTHY" if status == "OK" else status,
        "version": meta["version"],
        "orders": desk.get("orders"),
        "positions": desk.get("positions"),
        "daily_pnl": desk.get("daily_pnl"),
        **{key: sum(1 for issue in found if issue["type"] == finding_type) if complete else None
           for key, finding_type in V2_COUNTED.items()},
        "alpaca": {"open_orders": broker.get("open_orders"),
                   "open_positions": broker.get("open_positions")},
        "issues": found,
        "issue_summary": {"critical": v1["summary"]["critical"], "warning": v1["summary"]["warnings"],
                          "total": v1["summary"]["total_issues"],
                          "acknowledged": v1["summary"]["acknowledged"]},
    }
    if v1["errors"]:
        summary["error"] = headline(v1["errors"])
    return summary


def unreadable(message: str, *, now: datetime | None = None) -> Report:
    """The watchdog's error shape, for a report that could not be read."""
    moment = now or datetime.now(UTC)
    return {"timestamp": moment.isoformat(), "error": message, "status": "ERROR"}


def unreadable_v2(message: str, *, now: datetime | None = None) -> Report:
    """The watchdog v2.0 error shape, for a report that could not be read."""
    moment = now or datetime.now(UTC)
    return {"timestamp": moment.isoformat(), "status": "ERROR", "error": message, "issues": []}


def exit_code(summary: Report) -> int:
    """0 OK (HEALTHY), 1 WARNING, 2 CRITICAL, 3 ERROR, as trade_watchdog.py exited."""
    status = summary.get("summary", {}).get("status") or summary.get("status", "ERROR")
    return STATUS_EXIT_CODES[status]


def demo_findings_only(path: str | Path) -> bool:
    """Whether a report is a complete demo run whose only news is findings (the demo plants them)."""
    try:
        summary = summarize(load(path))
    except ReportError:
        return False
    return bool(summary["demo"]) and exit_code(summary) in (1, 2)

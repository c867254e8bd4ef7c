"""A checks report as OpenMetrics text, for node_exporter's textfile collector or a Pushgateway."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tradewatch import report, text

# Every outcome the report schema allows, so a zero is written rather than a missing series.
OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
LAST_COMPLETE = "tradewatch_last_complete_run_as_of_timestamp_seconds"


class PreviousMetricsError(Exception):
    """The metrics file being replaced cannot be parsed as OpenMetrics."""


def _epoch(stamp: str) -> float:
    """Seconds since the epoch of an ISO-8601 time; one without a zone is UTC, as --as-of reads it."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise report.ReportError(f"the report's as-of time '{text.shown(stamp)}' is not ISO-8601") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def last_complete_as_of(previous: str) -> float | None:
    """The as-of of the last complete run that an earlier metrics text recorded, if any."""
    try:
        # Parsed whole first: a file cut short (no # EOF) is not trusted for any value.
        families = list(text_string_to_metric_families(previous))
    except ValueError as exc:
        raise PreviousMetricsError(str(exc)) from None
    for family in families:
        if family.name == LAST_COMPLETE and family.samples:
            return float(family.samples[0].value)
    return None


def registry(loaded: report.Report, *, carried_last_complete: float | None = None) -> CollectorRegistry:
    """The report's metrics in a registry of their own (never the process-wide one).

    Raises ReportError when the report's as-of time cannot be read.
    """
    summary = report.summarize(loaded)
    # Complete: nothing stopped a check, and every check of the catalogue was selected.
    complete = not summary["errors"] and not summary["partial"]
    meta = loaded["tradewatch"]
    database = meta.get("database") or {}
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = (), unit: str = "") -> Gauge:
        return Gauge(name, documentation, labels, unit=unit, registry=registry)

    gauge("tradewatch_run_info", "What the run checked, as labels; the value is always 1",
          ("version", "database", "host", "demo", "profile")).labels(
        meta["version"], text.escaped(database.get("name", "")), text.escaped(database.get("host", "")),
        "true" if meta.get("demo") else "false", meta.get("profile", "")).set(1)

    findings = gauge("tradewatch_findings", "Findings listed in the report, by type and severity; "
                     "acknowledged ones apart", ("type", "severity", "acknowledged"))
    counts = Counter((issue["type"], issue["severity"], "true" if issue.get("acknowledged") else "false")
                     for issue in summary["issues"])
    for (finding_type, severity, acknowledged), count in sorted(counts.items()):
        findings.labels(finding_type, severity, acknowledged).set(count)
    gauge("tradewatch_findings_omitted", "Findings counted but left out of the report by the "
          "findings cap (not in tradewatch_findings)").set(summary["issues_omitted"])

    checks = gauge("tradewatch_checks", "Checks by outcome", ("outcome",))
    outcomes = Counter(test["outcome"] for test in loaded["tests"])
    for outcome in OUTCOMES:
        checks.labels(outcome).set(outcomes[outcome])
    gauge("tradewatch_checks_errored", "Checks that could not run").set(outcomes["error"])
    gauge("tradewatch_checks_unselected", "Checks of the catalogue this run did not select (-k, -m)").set(
        summary["unselected_checks"])

    gauge("tradewatch_run_status", "The run's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 ERROR "
          "(tradewatch summary's exit code)").set(report.exit_code(summary))
    gauge("tradewatch_run_complete", "1 when the run can be trusted as a whole (every check of the "
          "catalogue selected, the report lists no problem, pytest completed), else 0").set(
        1 if complete else 0)
    gauge("tradewatch_run_duration_seconds", "How long the checks run took", unit="seconds").set(
        loaded["duration"])
    gauge("tradewatch_report_written_timestamp_seconds", "When the report was written",
          unit="seconds").set(loaded["created"])
    as_of = _epoch(summary["timestamp"])
    gauge("tradewatch_run_as_of_timestamp_seconds", "The 'now' of this run's time-based checks",
          unit="seconds").set(as_of)
    last_complete = as_of if complete else carried_last_complete
    if last_complete is not None:
        gauge(LAST_COMPLETE, "The as-of time of the last complete run (carried over while runs "
              "are incomplete)", unit="seconds").set(last_complete)
    return registry


def exposition(loaded: report.Report, *, carried_last_complete: float | None = None) -> str:
    """The metrics as OpenMetrics text, ending in # EOF."""
    exposed: bytes = generate_latest(registry(loaded, carried_last_complete=carried_last_complete))
    return exposed.decode("utf-8")

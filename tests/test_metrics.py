"""tradewatch metrics: OpenMetrics that say what the report says, and keep the last complete run's as-of."""

from __future__ import annotations

import copy
import json
import os
import stat
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_format_families

from tests.conftest import SEEDS_DIR, RunChecks
from tests.pg import ScratchServer, run_sql_file
from tradewatch import catalogue, cli, demo, report

AS_OF = "2025-12-31T11:00:00-05:00"
LATER = "2025-12-31T11:05:00-05:00"
LAST_COMPLETE = "tradewatch_last_complete_run_as_of_timestamp_seconds"
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


@pytest.fixture
def demo_report(demo_db: str, run_checks: RunChecks) -> dict[str, Any]:
    """A real, complete report of every check on the demo desk, the broker replayed."""
    _, data = run_checks(demo_db, f"--broker-cassette={demo.DEMO_CASSETTE}")
    assert report.problems(data) == []
    return data


@pytest.fixture
def errored_report(pg_server: ScratchServer, migrated_template: str, run_checks: RunChecks) -> dict[str, Any]:
    """A real report in which checks could not run (the cycles table is gone), five minutes later."""
    url = pg_server.create(template=migrated_template)  # Its own database, beside the demo's.
    for seed in ("clean", "cycles_table_dropped"):
        run_sql_file(url, SEEDS_DIR / f"{seed}.sql")
    _, data = run_checks(url, "-m", "not broker", as_of=LATER)
    assert any(test["outcome"] == "error" for test in data["tests"])
    return data


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def parse(text: str) -> Samples:
    """Every sample by metric family and label set, parsed as OpenMetrics (which needs # EOF)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(family.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any],
            output: Path | None = None) -> str:
    """Run `tradewatch metrics` on a report; return what it printed or wrote."""
    source = tmp_path / "report.json"
    source.write_text(json.dumps(data))
    capsys.readouterr()  # Drop what an in-process checks run printed.
    args = ["metrics", str(source)] + (["-o", str(output)] if output else [])
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    if output is None:
        return printed
    assert printed == ""
    return output.read_text()


def test_metrics_say_what_the_report_says(
    demo_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = metrics(tmp_path, capsys, demo_report)
    assert text.endswith("# EOF\n")
    samples = parse(text)
    found = report.issues(demo_report)
    assert found
    expected = Counter((f["type"], f["severity"]) for f in found)
    assert samples["tradewatch_findings"] == {
        (("acknowledged", "false"), ("severity", severity), ("type", finding_type)): float(count)
        for (finding_type, severity), count in expected.items()
    }
    assert value(samples, "tradewatch_findings_omitted") == 0
    outcomes = Counter(test["outcome"] for test in demo_report["tests"])
    assert outcomes["failed"]
    assert outcomes["passed"]
    for outcome in ("passed", "failed", "skipped", "error", "xfailed", "xpassed"):
        assert value(samples, "tradewatch_checks", outcome=outcome) == outcomes[outcome]
    assert value(samples, "tradewatch_checks_errored") == 0
    assert report.summarize(demo_report)["summary"]["status"] == "CRITICAL"
    assert value(samples, "tradewatch_run_status") == 2
    assert value(samples, "tradewatch_run_complete") == 1
    assert value(samples, "tradewatch_run_duration_seconds") == pytest.approx(demo_report["duration"])
    written = value(samples, "tradewatch_report_written_timestamp_seconds")
    assert written == pytest.approx(demo_report["created"])
    assert value(samples, "tradewatch_run_as_of_timestamp_seconds") == epoch(AS_OF)
    assert value(samples, LAST_COMPLETE) == epoch(AS_OF)
    database = demo_report["tradewatch"]["database"]
    assert value(samples, "tradewatch_run_info", version=demo_report["tradewatch"]["version"],
                 database=database["name"], host=database["host"], demo="false",
                 profile=demo_report["tradewatch"]["profile"]) == 1
    # node_exporter's textfile collector reads the Prometheus text format: the same families parse.
    assert {family.name for family in text_format_families(text)} == set(samples)


def test_acknowledged_findings_and_the_cap_are_counted_apart(
    demo_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(demo_report)
    stuck, _ = [f for test in data["tests"] for f in test["metadata"].get("findings", [])
                if f["type"] == "STUCK_ORDER"]
    stuck["acknowledged"] = {"reason": "broker ticket 4711", "owner": "ops", "until": "2026-01-15"}
    capped = next(test for test in data["tests"] if test["metadata"].get("findings"))
    capped["metadata"]["finding_count"] += 7
    assert report.validation_errors(data) == []
    samples = parse(metrics(tmp_path, capsys, data))
    stuck_labels = {"type": "STUCK_ORDER", "severity": stuck["severity"]}
    assert value(samples, "tradewatch_findings", **stuck_labels, acknowledged="true") == 1
    assert value(samples, "tradewatch_findings", **stuck_labels, acknowledged="false") == 1
    assert value(samples, "tradewatch_findings_omitted") == 7


def test_last_complete_run_is_carried_over_while_runs_are_incomplete(
    demo_report: dict[str, Any], errored_report: dict[str, Any], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    textfile = tmp_path / "textfile" / "tradewatch.prom"
    complete = parse(metrics(tmp_path, capsys, demo_report, textfile))
    assert value(complete, LAST_COMPLETE) == epoch(AS_OF)

    incomplete = parse(metrics(tmp_path, capsys, errored_report, textfile))
    errored = sum(1 for test in errored_report["tests"] if test["outcome"] == "error")
    assert errored
    assert value(incomplete, "tradewatch_run_status") == 3
    assert value(incomplete, "tradewatch_run_complete") == 0
    assert value(incomplete, "tradewatch_checks_errored") == errored
    assert value(incomplete, "tradewatch_checks", outcome="error") == errored
    assert value(incomplete, "tradewatch_run_as_of_timestamp_seconds") == epoch(LATER)
    assert value(incomplete, LAST_COMPLETE) == epoch(AS_OF)  # Carried over from the file replaced...
    again = parse(metrics(tmp_path, capsys, errored_report, textfile))
    assert value(again, LAST_COMPLETE) == epoch(AS_OF)  # ...run after run,

    later = copy.deepcopy(demo_report)
    later["tradewatch"]["as_of"] = "2025-12-31T11:10:00-05:00"
    assert value(parse(metrics(tmp_path, capsys, later, textfile)), LAST_COMPLETE) == epoch(
        "2025-12-31T11:10:00-05:00")  # until a complete run replaces it.

    # With nothing to carry it from (stdout, or a new file), the metric is absent, never zero.
    assert LAST_COMPLETE not in parse(metrics(tmp_path, capsys, errored_report))
    assert LAST_COMPLETE not in parse(metrics(tmp_path, capsys, errored_report, tmp_path / "new.prom"))


def test_unparsable_previous_file_is_replaced_without_carry_over(
    errored_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    textfile = tmp_path / "tradewatch.prom"
    textfile.write_text(f"{LAST_COMPLETE} 123\n")  # Half a file: no # EOF.
    source = tmp_path / "report.json"
    source.write_text(json.dumps(errored_report))
    capsys.readouterr()
    assert cli.main(["metrics", str(source), "-o", str(textfile)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("tradewatch metrics: the previous")
    assert err.count("\n") == 1
    samples = parse(textfile.read_text())
    assert LAST_COMPLETE not in samples
    assert value(samples, "tradewatch_run_status") == 3


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"tests": []})],
                         ids=["missing", "not-json", "not-a-report"])
def test_unreadable_report_exits_3_with_one_line_and_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    source, textfile = tmp_path / "report.json", tmp_path / "tradewatch.prom"
    if content is not None:
        source.write_text(content)
    textfile.write_text("the previous metrics")
    assert cli.main(["metrics", str(source), "-o", str(textfile)]) == 3
    captured = capsys.readouterr()
    assert captured.err.startswith("tradewatch metrics: ")
    assert captured.err.count("\n") == 1
    assert captured.out == ""
    assert textfile.read_text() == "the previous metrics"


def test_as_of_that_is_not_a_time_exits_3(
    demo_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(demo_report)
    data["tradewatch"]["as_of"] = "yesterday\nat noon"
    source = tmp_path / "report.json"
    source.write_text(json.dumps(data))
    capsys.readouterr()
    assert cli.main(["metrics", str(source)]) == 3
    captured = capsys.readouterr()
    assert captured.err == ("tradewatch metrics: the report's as-of time 'yesterday\\nat noon' "
                            "is not ISO-8601\n")
    assert captured.out == ""


def test_file_is_replaced_whole_and_readable_by_the_collector(
    demo_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    textfile = tmp_path / "tradewatch.prom"
    textfile.write_text("the previous metrics")
    before = textfile.stat().st_ino
    umask = os.umask(0o022)
    try:
        metrics(tmp_path, capsys, demo_report, textfile)
    finally:
        os.umask(umask)
    assert textfile.stat().st_ino != before  # Renamed over the old file, not written into it,
    assert sorted(os.listdir(tmp_path)) == ["report.json", "tradewatch.prom"]  # no scratch file left,
    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644  # and node_exporter's user can read it.


def test_a_run_of_a_few_checks_is_not_a_complete_run(
    demo_db: str, run_checks: RunChecks, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """One check selected (-k): its OK speaks for that check alone; the run is partial, never complete."""
    _, data = run_checks(demo_db, f"--broker-cassette={demo.DEMO_CASSETTE}", "-k", "cycle_status_known")
    every = sum(len(rule.nodeids) for rule in catalogue.RULES)
    assert data["tradewatch"]["selection"]["checks"] == every
    assert len(data["tradewatch"]["selection"]["unselected"]) == every - 1
    summary = report.summarize(data)
    assert (summary["summary"]["status"], summary["partial"], summary["unselected_checks"]) == (
        "OK", True, every - 1)
    samples = parse(metrics(tmp_path, capsys, data))
    assert value(samples, "tradewatch_run_complete") == 0
    assert value(samples, "tradewatch_checks_unselected") == every - 1
    assert LAST_COMPLETE not in samples

"""The database has the post-Phase-2 schema, and the code no longer reads what it dropped."""

import pytest

from tradewatch.plugin import ReportFindings
from tradewatch.queries import schema
from tradewatch.watched import WatchedDatabase

pytestmark = pytest.mark.schema


@pytest.mark.parametrize("column", schema.LEGACY_POSITION_COLUMNS)
def test_legacy_column_dropped(
    watched_db: WatchedDatabase, report_findings: ReportFindings, column: str
) -> None:
    report_findings(schema.legacy_column_present(watched_db, column))


@pytest.mark.parametrize(
    ("table", "column"), schema.REQUIRED_COLUMNS,
    ids=[f"{table}.{column}" for table, column in schema.REQUIRED_COLUMNS],
)
def test_phase2_column_present(
    watched_db: WatchedDatabase, report_findings: ReportFindings, table: str, column: str
) -> None:
    report_findings(schema.missing_column(watched_db, table, column))


def test_pipeline_view_has_its_columns(
    watched_db: WatchedDatabase, report_findings: ReportFindings
) -> None:
    report_findings(schema.view_columns_missing(watched_db))


def test_pipeline_view_runs(watched_db: WatchedDatabase, report_findings: ReportFindings) -> None:
    report_findings(schema.view_fails_to_run(watched_db))

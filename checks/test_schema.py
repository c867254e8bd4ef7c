"""The database has the post-Phase-2 schema (on the layout tradewatch migrates)."""

import pytest

from tradewatch.catalogue import check
from tradewatch.plugin import Judge

pytestmark = pytest.mark.schema


@check("legacy_column_dropped")
def test_legacy_column_dropped(judge: Judge, case: str) -> None:
    judge(case)


@check("phase2_column_present")
def test_phase2_column_present(judge: Judge, case: str) -> None:
    judge(case)


@check("pipeline_view_has_its_columns")
def test_pipeline_view_has_its_columns(judge: Judge) -> None:
    judge()


@check("pipeline_view_runs")
def test_pipeline_view_runs(judge: Judge) -> None:
    judge()

"""The seed guide's checklist: no query in tradewatch reads the positions' legacy broker columns."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import CHECKOUT

# A position's legacy broker column named through the table or its usual alias p.
LEGACY_READ = re.compile(r"\b(?:positions|p)\.alpaca_(?:order_id|status|error)\b")


def legacy_reads(folder: Path) -> list[str]:
    """file:line of every Python line under folder that names a legacy column of positions."""
    return [
        f"{path.relative_to(folder)}:{number}"
        for path in sorted(folder.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if LEGACY_READ.search(line)
    ]


def test_no_query_reads_legacy_position_columns() -> None:
    assert legacy_reads(CHECKOUT / "tradewatch") == []
    assert legacy_reads(CHECKOUT / "checks") == []


def test_the_scan_finds_such_a_query(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text('QUERY = "SELECT p.alpaca_status FROM positions p"\n')
    assert legacy_reads(tmp_path) == ["old.py:1"]

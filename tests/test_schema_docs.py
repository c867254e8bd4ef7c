"""The README's 'Your schema' tables are the profiles' own, made by tradewatch.schema_map.docs."""

from __future__ import annotations

import pytest

from tests.conftest import CHECKOUT
from tradewatch.schema_map import docs
from tradewatch.schema_map.model import FIELDS
from tradewatch.schema_map.profiles import PROFILES


@pytest.mark.parametrize("table", [docs.profiles_table, docs.fields_table, docs.vocabulary_table])
def test_readme_holds_the_table_the_profiles_make(table: object) -> None:
    assert callable(table)
    assert table() in (CHECKOUT / "README.md").read_text()


def test_the_fields_table_names_every_field_of_every_profile() -> None:
    rows = docs.fields_table().splitlines()[2:]
    assert [row.split(" | ")[0].strip("| `") for row in rows] == [field.name for field in FIELDS]
    assert all(row.count(" | ") == 1 + len(PROFILES) for row in rows)

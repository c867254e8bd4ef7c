"""Loaded with -p by a self-test: Ctrl-C arrives while the run starts, just after the demo is up."""

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Make reading the schema, the first thing after connecting, the moment Ctrl-C arrives."""
    from tradewatch.schema_map import catalog  # Imported here: -p loads this before the plugin.

    def interrupted(conn: Any) -> Any:
        print(f"READY {conn.info.host}", flush=True)
        raise KeyboardInterrupt

    catalog.read = interrupted

"""Loaded with -p by a self-test: holds the first check so the run can be interrupted mid-way."""

import time
from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Say where the embedded data lives, then wait to be interrupted."""
    # Imported here: loaded with -p, this module comes before conftest.py loads the plugin.
    from tradewatch.plugin import RUN_KEY

    watched = item.config.stash[RUN_KEY].watched
    print(f"READY {watched.conn.info.host}", flush=True)
    time.sleep(60)
    return (yield)

"""Loaded with -p by a self-test: one check fails with a traceback whose locals hold the run's secrets."""

from collections.abc import Iterator

import pytest

FAILING_CHECK = "test_order_purpose_set"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail one check where --showlocals prints the settings and the watched database."""
    # Imported here: loaded with -p, this module comes before conftest.py loads the plugin.
    from tradewatch.plugin import RUN_KEY, SETTINGS_KEY

    if item.name == FAILING_CHECK:
        settings = item.config.stash[SETTINGS_KEY]
        watched = item.config.stash[RUN_KEY].watched
        raise AssertionError(f"a failing check beside {type(settings).__name__} and {type(watched).__name__}")
    return (yield)

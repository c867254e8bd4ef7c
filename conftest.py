"""Loads the tradewatch pytest plugin (and pytester, which the self-tests drive it with)."""

pytest_plugins = [
    "tradewatch.plugin",
    "pytester",
]

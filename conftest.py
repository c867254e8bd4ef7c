"""Loads the tradewatch pytest plugins (and pytester, which the self-tests drive them with)."""

pytest_plugins = [
    "tradewatch.plugin",
    "tradewatch.broker_plugin",
    "tradewatch.terminal",
    "pytester",
]

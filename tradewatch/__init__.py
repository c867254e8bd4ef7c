"""tradewatch: data-quality checks of a trading desk's database and broker account.

PYTEST_DONT_REWRITE: the package is a pytest plugin by entry point, not a test module; its asserts
are its own and a run that imported it already must not be warned about rewriting it.
"""

"""Where the demo data lives, and the moment its snapshot was taken."""

from __future__ import annotations

from datetime import datetime

from tradewatch import resources

# The checkout, or the installed package's copy of its files (see tradewatch.resources).
CHECKOUT = resources.ROOT
DEMO_SQL = resources.DEMO_SQL
DEMO_CASSETTE = resources.DEMO_CASSETTE
# The demo data and cassette describe the desk at this moment (mid-session, New York).
DEMO_AS_OF = datetime.fromisoformat("2025-12-31T11:00:00-05:00")

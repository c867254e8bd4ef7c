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

# The Catalyst desk's risk limits, which the demo runs under unless others are set: a real run
# has none unless set (5 symbols, 25 % of equity in one position, 3 % daily loss).
DEMO_MAX_OPEN_POSITIONS = 5
DEMO_MAX_POSITION_PCT = 25.0
DEMO_MAX_DAILY_LOSS_PCT = 3.0

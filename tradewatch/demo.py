"""Where the demo data lives, and the moment its snapshot was taken."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from tradewatch import resources

# The checkout, or the installed package's copy of its files (see tradewatch.resources).
CHECKOUT = resources.ROOT
DEMO_SQL = resources.DEMO_SQL
DEMO_CASSETTE = resources.DEMO_CASSETTE
# The demo desk in later layouts, for `--profile`: the layout's empty tables, then demo.sql's rows
# rewritten the way that layout's writer left them (same trades, broker ids and defects).
DEMO_LAYOUTS: Mapping[str, tuple[Path, Path]] = {
    name: (resources.ROOT / "fixtures" / "layouts" / name / "schema.sql",
           resources.ROOT / "fixtures" / "demo-layouts" / f"{name}.sql")
    for name in ("catalyst-2026-04",)
}
# The profiles the demo can run as: auto and the December layout are demo.sql itself.
DEMO_PROFILES = ("auto", "catalyst-2025-12", *DEMO_LAYOUTS)
# The demo data and cassette describe the desk at this moment (mid-session, New York).
DEMO_AS_OF = datetime.fromisoformat("2025-12-31T11:00:00-05:00")

# The Catalyst desk's risk limits, which the demo runs under unless others are set: a real run
# has none unless set (5 symbols, 25 % of equity in one position, 3 % daily loss).
DEMO_MAX_OPEN_POSITIONS = 5
DEMO_MAX_POSITION_PCT = 25.0
DEMO_MAX_DAILY_LOSS_PCT = 3.0

"""Where the demo data lives, and the moment its snapshot was taken."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
DEMO_SQL = CHECKOUT / "fixtures" / "demo.sql"
DEMO_CASSETTE = CHECKOUT / "cassettes" / "demo.yaml"
# The demo data and cassette describe the desk at this moment (mid-session, New York).
DEMO_AS_OF = datetime.fromisoformat("2025-12-31T11:00:00-05:00")

"""The check queries: each returns the findings that break one invariant."""

"""Benchmark of pytest checks/ on synthetic desks: python -m bench.run."""

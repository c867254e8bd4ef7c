"""Broker fixtures for the checks: one alpaca-py snapshot per run, live or replayed."""

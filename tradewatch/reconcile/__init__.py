"""Reconciliation of the database with the broker: pure rules over plain records and a snapshot."""

"""Collect a bounded, redacted evidence snapshot of an incident and announce it."""

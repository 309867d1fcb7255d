"""Verify a preflight deployment and report passed, failed or inconclusive."""

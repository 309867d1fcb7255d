"""Time windows and timestamps: the pattern admits digits, the rule refuses absurd amounts and dates."""

from __future__ import annotations

import pytest

from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import RFC3339_UTC, TIME_WINDOW


@pytest.mark.parametrize("window", ["30m", "1h30m", "7d", "1s", "2026-11-27T09:00:00Z/2026-11-27T10:00:00Z"])
def test_sensible_windows_are_accepted(window: str) -> None:
    assert TIME_WINDOW.check(window) == window


@pytest.mark.parametrize(("window", "reason"), [
    ("99999999999999999999d", "longer than 7 days"),
    ("8d", "longer than 7 days"),
    ("0m", "empty"),
    ("0001-01-01T00:00:00Z/0001-01-02T00:00:00Z", "year outside 2000-2999"),
    ("2026-11-27T09:00:00Z/9999-12-31T23:59:59Z", "year outside 2000-2999"),
    ("2026-02-30T09:00:00Z/2026-03-01T09:00:00Z", "no such date"),
    ("2026-11-27T10:00:00Z/2026-11-27T09:00:00Z", "ends before it starts"),
    ("2026-11-01T00:00:00Z/2026-11-27T00:00:00Z", "longer than 7 days"),
])
def test_absurd_windows_are_refused(window: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        TIME_WINDOW.check(window)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_absurd_timestamps_are_refused(moment: str) -> None:
    with pytest.raises(InvalidInput, match="no such date"):
        RFC3339_UTC.check(moment)

"""Every occurrence of a detector's values in one pass: the same stretches as searching for each value."""

from __future__ import annotations

import random

import pytest

from pathops_contracts.occurrences import blanked, covered, occurrences
from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_scan import scan_text


def _searched_one_by_one(values: set[str], text: str) -> list[tuple[int, int]]:
    """What `covered` answers, the slow way: each value at every offset, overlapping stretches merged."""
    spans = sorted((start, start + len(value)) for value in values if value
                   for start in range(len(text)) if text.startswith(value, start))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@pytest.mark.parametrize(("values", "text", "stretches"), [
    ({"AP6x", "AP6xy"}, "a AP6xy b AP6x", [(2, 7), (10, 14)]),  # one begins the other
    ({"xxAB", "ABzz"}, "xxABzz", [(0, 6)]),  # each holds the other's end
    ({"ab"}, "ababab", [(0, 2), (2, 4), (4, 6)]),  # adjacent: a value each
    ({"aba"}, "ababa", [(0, 5)]),  # overlapping copies of one value
    ({"Жé"}, "xЖéyЖé", [(1, 3), (4, 6)]),  # offsets are characters
    ({"", "q"}, "abc", []),
    (set(), "abc", []),
])
def test_covered_stretches(values: set[str], text: str, stretches: list[tuple[int, int]]) -> None:
    assert covered(values, text) == stretches == _searched_one_by_one(values, text)


def test_covered_answers_as_a_search_for_each_value() -> None:
    chance = random.Random(7)
    for _ in range(3000):
        text = "".join(chance.choice("abcé") for _ in range(chance.randint(0, 40)))
        values = {"".join(chance.choice("abcé") for _ in range(chance.randint(1, 5)))
                  for _ in range(chance.randint(0, 6))}
        assert covered(values, text) == _searched_one_by_one(values, text), (values, text)
        assert blanked(text, values) == "".join(" " if any(s <= i < e for s, e in covered(values, text)) else char
                                                for i, char in enumerate(text))


def test_occurrences_come_in_the_order_of_their_ends_overlapping_ones_included() -> None:
    assert list(occurrences({"aa", "a"}, "aaa")) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


def test_many_distinct_values_are_each_redacted_and_reported() -> None:
    """The hostile input of `benchmarks/redaction.py` ('distinct key ids'): each value a detector finds."""
    keys = [f"AKIA{index:016X}" for index in range(2000)]
    text = " ".join(keys)
    assert {hit.kind for hit in scan_text(text)} >= {"detect-secrets:AWS Access Key"}
    redacted = Redactor(key=b"k" * 32).redact(text, "x")
    assert not any(key in redacted for key in keys) and redacted.count("[REDACTED:") == len(keys)
    assert scan_text(redacted) == []

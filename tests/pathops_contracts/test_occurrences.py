"""Every occurrence of a detector's values in one pass: the same stretches as searching for each value."""

from __future__ import annotations

import random
from collections.abc import Iterator

import ahocorasick
import pytest

from pathops_contracts import occurrences
from pathops_contracts.occurrences import Finder, blanked, covered
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


# Budget 0: the walk takes over early; LONG 2: most values are the walk's from the start, but past WALK_CHARS
# 6 of their characters (the last case) the automaton's again.
@pytest.mark.parametrize(("budget", "long", "walk_chars"), [
    (occurrences.BUDGET_PER_CHAR, occurrences.LONG, occurrences.WALK_CHARS),
    (0, occurrences.LONG, occurrences.WALK_CHARS),
    (occurrences.BUDGET_PER_CHAR, 2, occurrences.WALK_CHARS),
    (occurrences.BUDGET_PER_CHAR, 2, 6)])
def test_covered_answers_as_a_search_for_each_value(budget: int, long: int, walk_chars: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(occurrences, "BUDGET_PER_CHAR", budget)
    monkeypatch.setattr(occurrences, "LONG", long)
    monkeypatch.setattr(occurrences, "WALK_CHARS", walk_chars)
    chance = random.Random(7)
    for _ in range(3000):
        text = "".join(chance.choice("abcé") for _ in range(chance.randint(0, 40))) * chance.choice((1, 1, 4))
        values = {"".join(chance.choice("abcé") for _ in range(chance.randint(1, 5)))
                  for _ in range(chance.randint(0, 6))}
        assert covered(values, text) == _searched_one_by_one(values, text), (values, text)
        assert blanked(text, values) == "".join(" " if any(s <= i < e for s, e in covered(values, text)) else char
                                                for i, char in enumerate(text))
        seen: set[str] = set()
        assert list(Finder(values).longest(text, seen)) == _longest_one_by_one(values, text), (values, text)
        assert seen == {value for value in values if value in text}


def _longest_one_by_one(values: set[str], text: str) -> list[tuple[int, int, bool]]:
    """What `Finder.longest` answers, the slow way: at each end, the values ending there."""
    answers = []
    for end in range(1, len(text) + 1):
        ending = [value for value in values if value and text.endswith(value, 0, end)]
        if ending:
            answers.append((end - max(map(len, ending)), end, len(ending) > 1))
    return answers


def test_the_longest_occurrence_ending_at_each_offset_and_whether_others_end_there() -> None:
    assert list(Finder({"aa", "a"}).longest("aaa")) == [(0, 1, False), (0, 2, True), (1, 3, True)]


_AUTOMATON = ahocorasick.Automaton


class _Counted:
    """pyahocorasick's automaton, keeping (length of the text, occurrences reported) for each search."""

    searches: list[tuple[int, int]] = []
    words: list[str] = []

    def __init__(self, kind: int) -> None:
        self._automaton = _AUTOMATON(kind)

    def add_word(self, word: str, *stored: object) -> bool:
        self.words.append(word)
        return bool(self._automaton.add_word(word, *stored))

    def make_automaton(self) -> None:
        self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self._automaton)

    def iter(self, text: str, *bounds: int) -> Iterator[tuple[int, object]]:
        self.searches.append((len(text), 0))
        for match in self._automaton.iter(text, *bounds):
            self.searches[-1] = (len(text), self.searches[-1][1] + 1)
            yield match


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    monkeypatch.setattr(ahocorasick, "Automaton", _Counted)
    monkeypatch.setattr(_Counted, "searches", [])
    monkeypatch.setattr(_Counted, "words", [])
    return _Counted.searches


def test_values_each_a_suffix_of_the_next_cost_a_few_occurrences_a_character(counted: list[tuple[int, int]]
                                                                             ) -> None:
    """`AKC` 5 to 120 times, each an Artifactory password: every third offset of the longest ended 120 of
    them (n^1.5 occurrences: 100 KB took 1.3 s to redact, 8x that at 4x the size). And `://u:a@h`,
    `://u:aa@h`..., each a Basic Auth password to the final scan (100 KB: 7.9 s to scan)."""
    passwords = " ".join("AKC" * count for count in range(5, 121))
    redacted = Redactor(key=b"k" * 32).redact(passwords, "x")
    assert "AKC" not in redacted and redacted.count("[REDACTED:") == 116
    urls = " ".join(f"://u:{'a' * count}@h" for count in range(1, 201))
    assert "detect-secrets:Basic Auth Credentials" in {hit.kind for hit in scan_text(urls)}
    assert counted and all(reported <= 3 * length + 100 for length, reported in counted), max(counted)


def test_many_distinct_values_are_each_redacted_and_reported() -> None:
    """The hostile input of `benchmarks/redaction.py` ('distinct key ids'): each value a detector finds."""
    keys = [f"AKIA{index:016X}" for index in range(2000)]
    text = " ".join(keys)
    assert {hit.kind for hit in scan_text(text)} >= {"detect-secrets:AWS Access Key"}
    redacted = Redactor(key=b"k" * 32).redact(text, "x")
    assert not any(key in redacted for key in keys) and redacted.count("[REDACTED:") == len(keys)
    assert scan_text(redacted) == []


def test_long_values_are_the_walk_s_pyahocorasick_follows_every_failure_link(counted: list[tuple[int, int]]
                                                                            ) -> None:
    """pyahocorasick has no output links: at each offset it follows its state's failure links to the root,
    one a prefix of a value ending there. Basic Auth passwords of n/8 'a's and a run of n/2 'a's: n^2/16
    steps (350 KB: 17 s), with no occurrence in the run needed. Values longer than LONG are the walk's."""
    text = f"://u:{'a' * 500}@h ://u:{'a' * 501}@h ://u:{'a' * 40}@h x{'a' * 2000}x"
    assert {hit.kind for hit in scan_text(text)} >= {"detect-secrets:Basic Auth Credentials"}
    assert _Counted.words and all(len(word) <= occurrences.LONG for word in _Counted.words)
    assert covered({"a" * 500, "a" * 40}, text) == _searched_one_by_one({"a" * 500, "a" * 40}, text)


def test_the_walk_takes_long_values_up_to_its_share_of_characters_the_automaton_the_rest(
        counted: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory: the walk holds some 220 bytes a character of its values, the automaton 47."""
    monkeypatch.setattr(occurrences, "WALK_CHARS", 1000)
    values = {"b" * length + "x" for length in range(200, 800, 100)}  # 201 .. 701 characters, 2,706 in all
    text = "y".join(sorted(values)) + "a" * 50
    assert covered(values, text) == _searched_one_by_one(values, text)
    assert sorted(map(len, _Counted.words)) == [501, 601, 701]  # 201 + 301 + 401 = 903 <= 1,000: the walk's

"""Where a detector's values occur in a text: all of them in one pass (Aho-Corasick, `pyahocorasick`).

A value a detector finds is a secret wherever it occurs, so each is looked for in the whole text. One
search per value made that quadratic in text an attacker writes: a log line of distinct key ids, each a
value, 400 KB of them, took 9 s to redact. The automaton finds every occurrence of every value, the
overlapping ones too (`AP6x` inside `AP6xy`; `xxAB` and `ABzz` across `xxABzz`), in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import ahocorasick

Finder = Callable[[str], Iterator[tuple[int, int]]]


def finder(values: Iterable[str]) -> Finder:
    """`occurrences` of these values in any text, the automaton built once."""
    automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
    for value in values:
        if value:
            automaton.add_word(value)
    if len(automaton) == 0:
        return lambda text: iter(())
    automaton.make_automaton()

    def find(text: str) -> Iterator[tuple[int, int]]:
        for last, length in automaton.iter(text):
            yield last + 1 - length, last + 1

    return find


def occurrences(values: Iterable[str], text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every occurrence of every non-empty value in text, overlapping ones included, in
    the order of their ends (values that end at one offset: longest first)."""
    return finder(values)(text)


def covered(values: Iterable[str], text: str) -> list[tuple[int, int]]:
    """The stretches of text that occurrences of the values cover, sorted and disjoint: overlapping
    occurrences make one stretch, adjacent ones stay apart (a value each)."""
    stretches: list[tuple[int, int]] = []
    for start, end in occurrences(values, text):
        # Ends come in order: this one reaches past every stretch so far, and takes in those it overlaps.
        while stretches and stretches[-1][1] > start:
            start = min(start, stretches.pop()[0])
        stretches.append((start, end))
    return stretches


def blanked(text: str, values: Iterable[str]) -> str:
    """text with every occurrence of every value replaced by as many blanks."""
    pieces = []
    cursor = 0
    for start, end in covered(values, text):
        pieces.append(text[cursor:start])
        pieces.append(" " * (end - start))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)

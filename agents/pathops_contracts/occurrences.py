"""Where a detector's values occur in a text: all of them in one pass (Aho-Corasick, `pyahocorasick`).

A value a detector finds is a secret wherever it occurs, so each is looked for in the whole text. One
search per value made that quadratic in text an attacker writes: a log line of distinct key ids, each a
value, 400 KB of them, took 9 s to redact. The automaton finds every occurrence of every value, the
overlapping ones too (`AP6x` inside `AP6xy`; `xxAB` and `ABzz` across `xxABzz`), in one pass.

But it reports every value ending at an offset, and values can be suffixes of one another: `AKC` repeated
5, 6, ... 250 times, each an Artifactory password on its own, made every third offset of the longest end
250 of them, n^1.5 occurrences for n characters (100 KB: 1.3 s to redact, 8x the time of 25 KB). Only
the longest occurrence ending at an offset adds anything (the others lie inside it), so that is all
`Finder.longest` reports: from the automaton while it reports a few occurrences a character, and past that
from a walk of the same automaton in Python (`_Walk`) that keeps, for each state, the longest value only.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import ahocorasick

# Occurrences the automaton may report per character of a text before the walk takes over: a value ending
# at each offset, and a few that are suffixes of others (each reported once per offset, the walk too).
BUDGET_PER_CHAR = 2
_CHARS = 0x110000  # code points: a state and a character as one key of the walk's transitions

# Values longer than this are looked for by the walk from the start: pyahocorasick has no output links, and
# at every offset follows the failure links of its state to the root, whether a value ends there or not. A
# value of n/4 'a's (a Basic Auth password) and a run of n/2 'a's: n^2/8 steps, 17 s at 350 KB. Each step
# is one of a value's prefixes ending at the offset: at most this many for the values it keeps (1.4 ns a
# step: 128 are 0.2 µs a character at worst, the walk's 0.3 µs; it also takes 220 bytes, not 47, a character
# of the values, and most secrets are shorter: keys, tokens, passwords, hex digests).
LONG = 128
# Characters of long values the walk takes, shortest first; the others stay the automaton's. The walk holds
# about 220 bytes a character of its values: 4,000 distinct refused passwords of 286 characters in a 12 MB
# JSON Lines file took 246 MB (the Job's limit is 256 Mi), where the automaton took 53. Past this, memory
# is bounded and the failure-link time is not: a run killed for memory delivers nothing, a slow one its gaps.
WALK_CHARS = 64 * 1024

Longest = tuple[int, int, bool]  # start, end, whether shorter values end there too (inside it, as suffixes)


class Finder:
    """The longest occurrence of the values ending at each offset of a text, the automaton built once: the
    short values' from pyahocorasick (`_Automaton`), the long ones' from the walk (`_Walk`)."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted({value for value in values if value})
        long: list[str] = []
        chars = 0
        for value in sorted((value for value in self.values if len(value) > LONG), key=len):
            chars += len(value)
            if chars > WALK_CHARS:
                break
            long.append(value)
        walked = set(long)
        self._short = _Automaton(value for value in self.values if value not in walked)
        self._long = _Walk(sorted(long)) if long else None

    def longest(self, text: str, seen: set[str] | None = None) -> Iterator[Longest]:
        """(start, end, shorter) of the longest occurrence ending at each offset where one ends, in order:
        `shorter` when other values end there too (their starts in start + 1 .. end - 1). `seen`: every
        value that occurs is added to it (those inside a longer one too)."""
        found = self._short.longest(text, seen)
        if self._long is None:
            yield from found
            return
        pending: Longest | None = None
        for start, end, shorter in heapq.merge(found, self._long.longest(text, 0, seen), key=lambda one: one[1]):
            if pending is not None and pending[1] == end:  # a short and a long value end here: one inside
                pending = (min(pending[0], start), end, True)
                continue
            if pending is not None:
                yield pending
            pending = (start, end, shorter)
        if pending is not None:
            yield pending


class _Automaton:
    """What `Finder.longest` reports, from pyahocorasick while it reports a few occurrences a character."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted(values)
        self._reach = max(map(len, self.values), default=0)
        # Each value stored with its length: a slice of the text at each occurrence, to name the value, cost
        # its length (values 300 KB long, at a few occurrences a character: quadratic).
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for value in self.values:
            self._automaton.add_word(value, (len(value), value))
        if self.values:
            self._automaton.make_automaton()
        # Built the first time the automaton reports too many occurrences: a walk for the values that share an
        # end with another, and an automaton for the others.
        self._fallback: tuple[_Walk, Any] | None = None

    def longest(self, text: str, seen: set[str] | None = None) -> Iterator[Longest]:
        """`Finder.longest` of these values."""
        if not self.values:
            return
        budget = BUDGET_PER_CHAR * len(text) + 64
        pending: Longest | None = None  # the longest ending at the last end seen: more may end there
        for reported, (last, (length, value)) in enumerate(self._automaton.iter(text)):
            if reported > budget:
                break
            start, end = last + 1 - length, last + 1
            if seen is not None:
                seen.add(value)
            if pending is not None and pending[1] == end:  # longest first at each end: this one lies inside
                pending = (pending[0], end, True)
                continue
            if pending is not None:
                yield pending
            pending = (start, end, False)
        else:
            if pending is not None:
                yield pending
            return
        # Too many: the rest from the walk, which reports one per offset, for the values that share an end with
        # another (they alone can end at one offset together), and the automaton for the others. What was
        # yielded ends before pending's end; the walk starts far enough before it that its state there is right.
        done = 0 if pending is None else pending[1] - 1
        if self._fallback is None:
            related = _sharing_ends(self.values)
            others = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for value in self.values:
                if value not in related:
                    others.add_word(value, (len(value), value))
            if len(others):
                others.make_automaton()
            self._fallback = (_Walk(sorted(related)), others)
        walk, others = self._fallback
        found = walk.longest(text, done, seen)
        if len(others):  # never one end in both
            found = heapq.merge(_apart(others, text, max(0, done - self._reach), done, seen), found,
                                key=lambda longest: longest[1])
        yield from found


def _apart(others: Any, text: str, begin: int, done: int, seen: set[str] | None) -> Iterator[Longest]:
    """Occurrences of values sharing no end with another (one an offset) that end past `done`."""
    for last, (length, value) in others.iter(text, begin):
        if last >= done:
            if seen is not None:
                seen.add(value)
            yield last + 1 - length, last + 1, False


def _sharing_ends(values: list[str]) -> set[str]:
    """The values that are a suffix of another or have another as a suffix: reversed and sorted, a value's
    reversal comes before those it begins, right before them or with others it begins between."""
    related: set[str] = set()
    chain: list[str] = []  # reversals, each beginning the next
    for reversal in sorted(value[::-1] for value in values):
        while chain and not reversal.startswith(chain[-1]):
            chain.pop()
        if chain:  # and those below it, already taken with it
            related.update((chain[-1][::-1], reversal[::-1]))
        chain.append(reversal)
    return related


class _Walk:
    """Aho-Corasick in Python, each state keeping the longest value that ends there (and whether shorter
    ones do): one answer per offset, however many values are suffixes of one another. Transitions in one
    dict keyed by state and character; failure links and outputs in arrays: some 220 bytes a state (the
    automaton: 47), so it is built for the values that share an end with another only."""

    def __init__(self, values: list[str]) -> None:
        self.goto: dict[int, int] = {}
        self.word: dict[int, str] = {}
        parent, char, depth = array("q", [0]), array("q", [0]), array("q", [0])
        for value in values:
            state = 0
            for code in map(ord, value):
                key = state * _CHARS + code
                child = self.goto.get(key)
                if child is None:
                    child = self.goto[key] = len(depth)
                    parent.append(state)
                    char.append(code)
                    depth.append(depth[state] + 1)
                state = child
            self.word[state] = value
        self.depth = max(depth)
        self.fail = array("q", bytes(8 * len(depth)))
        self.out = array("q", bytes(8 * len(depth)))  # the state of the longest value ending here, or 0
        self.shorter = bytearray(len(depth))  # whether a shorter value ends here too
        for state in sorted(range(1, len(depth)), key=depth.__getitem__):  # a failure link is shallower
            link = 0
            if depth[state] > 1:
                link = self.fail[parent[state]]
                while True:
                    target = self.goto.get(link * _CHARS + char[state])
                    if target is not None:
                        link = target
                        break
                    if link == 0:
                        break
                    link = self.fail[link]
            self.fail[state] = link
            if state in self.word:
                self.out[state] = state
                self.shorter[state] = self.out[link] != 0
            else:
                self.out[state] = self.out[link]
                self.shorter[state] = self.shorter[link]

    def longest(self, text: str, done: int, seen: set[str] | None) -> Iterator[Longest]:
        """What `Finder.longest` reports of text ending past offset `done` (exclusive end > done)."""
        goto, fail, out, shorter, word = self.goto, self.fail, self.out, self.shorter, self.word
        marked: set[int] = set()  # states whose values (theirs and their failure links') are in seen
        state = 0
        begin = max(0, done - self.depth)
        for index in range(begin, len(text)):
            code = ord(text[index])
            while True:
                target = goto.get(state * _CHARS + code)
                if target is not None:
                    state = target
                    break
                if state == 0:
                    break
                state = fail[state]
            found = out[state]
            if found and index >= done:
                value = word[found]
                yield index + 1 - len(value), index + 1, bool(shorter[state])
                if seen is not None:
                    link = found
                    while link and link not in marked:  # each state once: linear in the states
                        marked.add(link)
                        if link in word:
                            seen.add(word[link])
                        link = fail[link]


def start_ranges(found: Iterable[Longest]) -> Iterator[tuple[int, int]]:
    """(low, high): offsets between which occurrences start, from `Finder.longest`: the longest's start, and
    where values ending with it start when there are some (inside it)."""
    for start, end, shorter in found:
        yield start, start
        if shorter:
            yield start + 1, end - 1


def covered(values: Iterable[str], text: str) -> list[tuple[int, int]]:
    """The stretches of text that occurrences of the values cover, sorted and disjoint: overlapping
    occurrences make one stretch, adjacent ones stay apart (a value each)."""
    stretches: list[tuple[int, int]] = []
    for start, end, _ in Finder(values).longest(text):
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

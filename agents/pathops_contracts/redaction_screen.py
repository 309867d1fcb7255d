"""The redactor's and the scan's fast paths: which rule anchors occur in a text, each looked for once.

Necessary conditions only: a rule whose anchors are all absent cannot match, so its regex need not run.
An anchor is written lower-case to be looked for in any case, any other way to be looked for as written.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
Key = tuple[str, bool]  # an anchor, and whether it is looked for in the lower-cased text


def lower_ascii(text: str) -> str:
    """Lower-cased A-Z only: the same length as text, so offsets in one are offsets in the other."""
    # str.lower() is far faster, and on ASCII text it is the same mapping.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def key_of(anchor: str) -> Key:
    """The convention of every anchor list: lower-case anchors any case, others as written."""
    return anchor, anchor.islower()


# Characters from the most to the least frequent in logs and objects; any other (upper case...) is rarer.
_FREQUENT = " etaoinsrhldcu0123456789:.-/\"mfpgwyb=,_vkxjqz"


def _rarity(char: str) -> int:
    return -(_FREQUENT.find(char) if char in _FREQUENT else len(_FREQUENT))


def _char_keys(anchor: str, folded: bool) -> tuple[Key, ...]:
    """The distinct characters of an anchor, rarest first, each with the text it is looked for in.

    A character without case is the same in the text and its lower-cased form: looked for as written.
    """
    chars = sorted(set(anchor), key=lambda char: (_rarity(char), char))
    return tuple((char, folded and char != char.upper()) for char in chars)


def _implies(outer: Key, inner: Key) -> bool:
    """Whether `outer` occurring means `inner` occurs: inner is part of outer, looked for in a text where
    outer's occurrence shows it (an anchor as written shows its lower-cased form in the lower-cased text)."""
    (anchor, folded), (part, part_folded) = outer, inner
    if part_folded:
        return part in lower_ascii(anchor)
    return not folded and part in anchor


class AnchorSet:
    """Anchors compiled for `Screen.present`, each with what rules it out cheaply.

    Each character (with the text it is looked for in) is a bit, and an anchor is a mask of its
    characters: one absent rules it out. An anchor is also ruled out by a shorter one it holds
    being absent (`gl` before `glpat-`, `auth` before `_authToken`), and anchors sharing their first
    two letters, three or more, are guarded by those two (`gh` before `ghp_`, `gho_`...): on text
    rich in letters, where characters rule out little, most substring searches are thus spared.
    """

    def __init__(self, anchors: Iterable[str]) -> None:
        keys = {key_of(anchor) for anchor in anchors}
        prefixes: dict[str, int] = {}
        for anchor, folded in keys:
            if folded and len(anchor) > 2:
                prefixes[anchor[:2]] = prefixes.get(anchor[:2], 0) + 1
        guards = {(prefix, True) for prefix, count in prefixes.items() if count >= 3} - keys  # not reported
        ordered = sorted(keys | guards, key=lambda key: (len(key[0]), not key[1], key[0]))
        chars = sorted({char for key in ordered for char in _char_keys(*key)},
                       key=lambda char: (_rarity(char[0]), char))
        bits = {char: 1 << index for index, char in enumerate(chars)}
        self.chars: tuple[tuple[int, str, bool], ...] = tuple((bits[char], *char) for char in chars)
        # (key, its characters' mask, its guards' mask, its own bit, whether it is reported, its regex's search
        # for a two-character anchor, else None: `in` is slowest on those, the regex twice as fast on a
        # text of a kilobyte or more; 2-5 ms of the final scans of a snapshot's 500 KB pods.jsonl and manifest)
        self.entries: tuple[tuple[Key, int, int, int, bool, Callable[[str], object] | None], ...] = tuple(
            (key, sum(bits[char] for char in _char_keys(*key)),
             sum(1 << inner for inner in range(index) if _implies(key, ordered[inner])), 1 << index, key in keys,
             re.compile(re.escape(key[0])).search if len(key[0]) == 2 else None)
            for index, key in enumerate(ordered))
        self.every_char = (1 << len(chars)) - 1
        self.anchors: frozenset[Key] = frozenset(keys)  # what `present` answers about

    @staticmethod
    def keys(anchors: Iterable[str]) -> frozenset[Key]:
        return frozenset(key_of(anchor) for anchor in anchors)


class Screen:
    """Which anchors occur in one text, each looked for once.

    Every character of an anchor is looked for first (a memchr-fast scan, shared by every anchor
    with that character, rarest first); the anchor itself only when all of them occur. Most anchors
    are thus ruled out without a substring search over the whole text. Exact: `holds` answers as
    `anchor in text` does, only faster.
    """

    def __init__(self, text: str, lowered: str) -> None:
        self.text = text
        self.lowered = lowered
        self._chars: dict[Key, bool] = {}
        self._anchors: dict[Key, bool] = {}

    def _has_char(self, key: Key) -> bool:
        seen = self._chars.get(key)
        if seen is None:
            seen = self._chars[key] = key[0] in (self.lowered if key[1] else self.text)
        return seen

    def holds(self, anchor: str, folded: bool) -> bool:
        """Whether anchor occurs in the text (`folded`: in its lower-cased form)."""
        key = (anchor, folded)
        found = self._anchors.get(key)
        if found is None:
            where = self.lowered if folded else self.text
            if len(where) <= _CHAR_SCREEN_TEXT or len(anchor) == 1:  # the characters would cost what the search does
                found = self._anchors[key] = anchor in where
                return found
            chars = _CHARS.get(key)
            if chars is None:
                chars = _CHARS[key] = _char_keys(anchor, folded)
            found = self._anchors[key] = all(map(self._has_char, chars)) and anchor in where
        return found

    def holds_any(self, anchors: tuple[str, ...]) -> bool:
        """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
        return not anchors or any(self.holds(*key_of(anchor)) for anchor in anchors)

    def present(self, anchors: AnchorSet) -> frozenset[Key]:
        """The keys of every anchor of the set that occurs in the text, as `holds` would say, in one sweep.

        Bit masks rather than sets: this runs once per block of every log. `lowered` must be
        `lower_ascii(text)` (the guards rely on it).
        """
        text, lowered = self.text, self.lowered
        have = 0
        for bit, char, folded in anchors.chars:
            if char in (lowered if folded else text):
                have |= bit
        missing = anchors.every_char & ~have
        found = 0
        reported = []
        for key, mask, guards, bit, report, search in anchors.entries:  # guards come first
            if mask & missing or guards & ~found:
                continue
            where = lowered if key[1] else text
            if (key[0] not in where) if search is None else (search(where) is None):
                continue
            found |= bit
            if report:
                reported.append(key)
        return frozenset(reported)


_CHARS: dict[Key, tuple[Key, ...]] = {}
_CHAR_SCREEN_TEXT = 256  # on a text up to this long, an anchor is looked for at once, its characters not first


def holds_any(text: str, lowered: str, anchors: tuple[str, ...]) -> bool:
    """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
    return Screen(text, lowered).holds_any(anchors)

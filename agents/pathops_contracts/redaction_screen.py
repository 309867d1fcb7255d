"""The redactor's fast paths: which rule anchors occur in a text, each looked for once.

Necessary conditions only: a rule whose anchors are all absent cannot match, so its regex need not run.
"""

from __future__ import annotations

import string

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def lower_ascii(text: str) -> str:
    """Lower-cased A-Z only: the same length as text, so offsets in one are offsets in the other."""
    # str.lower() is far faster, and on ASCII text it is the same mapping.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


# Characters from the most to the least frequent in logs and objects; any other (upper case...) is rarer.
_FREQUENT = " etaoinsrhldcu0123456789:.-/\"mfpgwyb=,_vkxjqz"


def _rarest(anchor: str) -> str:
    return max(anchor, key=lambda char: _FREQUENT.find(char) if char in _FREQUENT else len(_FREQUENT))


class Screen:
    """Which anchors occur in one text, each looked for once.

    An anchor's rarest character is looked for first (one memchr-fast scan, shared by every
    anchor with that character); the anchor itself only when that character occurs. Most
    anchors are thus ruled out without a substring search over the whole text.
    """

    def __init__(self, text: str, lowered: str) -> None:
        self.text = text
        self.lowered = lowered
        self._chars: dict[tuple[str, bool], bool] = {}
        self._anchors: dict[tuple[str, bool], bool] = {}

    def holds(self, anchor: str, folded: bool) -> bool:
        """Whether anchor occurs in the text (`folded`: in its lower-cased form)."""
        key = (anchor, folded)
        found = self._anchors.get(key)
        if found is None:
            hay = self.lowered if folded else self.text
            char = _RAREST.get(anchor)
            if char is None:
                char = _RAREST[anchor] = _rarest(anchor)
            seen = self._chars.get((char, folded))
            if seen is None:
                seen = self._chars[(char, folded)] = char in hay
            found = self._anchors[key] = seen and anchor in hay
        return found

    def holds_any(self, anchors: tuple[str, ...]) -> bool:
        """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
        return not anchors or any(self.holds(anchor, anchor.islower()) for anchor in anchors)


_RAREST: dict[str, str] = {}


def holds_any(text: str, lowered: str, anchors: tuple[str, ...]) -> bool:
    """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
    return Screen(text, lowered).holds_any(anchors)

"""Random-looking strings as the final scan judges them: its entropy check, shared with the redactor.

The scan (`secret_scan`) refuses any run of 20 or more of `[A-Za-z0-9+/=_.~-]` that this check takes for
random; the redactor (`redaction`) redacts every such run besides its own entropy candidates, so that
the scan never refuses what the redactor left (one log line holding a random token with a dot or a tilde
in it, `ya29.` OAuth tokens, made the collector refuse a whole snapshot). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

# A run is taken from its start (the look-behind): a search that tried every position inside a
# shorter run would read each run once per character.
_RANDOM = re.compile(r"(?<![A-Za-z0-9+/=_.~-])[A-Za-z0-9+/=_.~-]{20,}")

# ASCII characters of _RANDOM's class as "a", every other ASCII character as a blank: a run of 20 of
# them is a substring test on the translation, far faster than a regex search on text without one.
# Bytes, not str: bytes.translate is several times faster, and every non-ASCII character (its UTF-8
# bytes are all >= 0x80) is a blank there as it is in the str mapping: runs are the same.
_RUN_MAP = bytes(ord("a") if code < 128 and re.fullmatch(r"[A-Za-z0-9+/=_.~-]", chr(code)) else ord(" ")
                 for code in range(256))


def _runs(text: str) -> bytes:
    """text with _RANDOM's class as "a" and anything else as a blank (lone surrogates too)."""
    return text.encode("utf-8", "surrogatepass").translate(_RUN_MAP)


_HEX_OR_DOTTED = re.compile(r"[0-9a-fA-F.-]+")
_NOT_DOTTED = re.compile(r"[+/=]")
_CLASSES = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"))


def _random(candidate: str) -> bool:
    core = candidate.strip("=.-_~")
    # One case only (paths, names: most candidates) misses a class: settled before any regex.
    if len(core) < 24 or core.islower() or core.isupper() or _HEX_OR_DOTTED.fullmatch(core) or (
            "." in core and not _NOT_DOTTED.search(core)):
        return False  # hex ids, digests, versions and dotted names are evidence
    if not all(pattern.search(core) for pattern in _CLASSES):
        return False  # before the entropy: most candidates (paths, names) miss a class, and this is cheap
    counts = Counter(core)
    bits = -sum(n / len(core) * math.log2(n / len(core)) for n in counts.values())
    return bits >= 4.2


def _candidates(masked: str, runs: bytes, ascii_text: bool, unmasked: bool) -> Iterator[tuple[int, int]]:
    """The spans of _RANDOM's matches in masked, given `runs`, the translation of the text before masking.

    On ASCII text, offsets in the translation are offsets in the text, and every candidate lies in one of
    its runs of 20 (masking only breaks runs): the regex reads only those; where nothing was masked each
    such run is a candidate (the regex takes maximal runs), found by substring searches alone.
    """
    if not ascii_text:
        yield from (match.span() for match in _RANDOM.finditer(masked))
    elif unmasked:
        yield from _run_spans(runs, 20)
    else:
        for start, end in _run_spans(runs, 20):
            yield from (match.span() for match in _RANDOM.finditer(masked, start, end))


def _run_spans(runs: bytes, length: int) -> Iterator[tuple[int, int]]:
    """Start and end of every run of at least `length` in a `_runs` translation, each found by a substring search.

    The first `length`-run after the end of the last one starts a run: a run starting earlier would
    have been found there.
    """
    needle = b"a" * length
    start = runs.find(needle)
    while start != -1:
        end = runs.find(b" ", start)
        end = len(runs) if end == -1 else end
        yield start, end
        start = runs.find(needle, end)


def long_runs(text: str) -> bytes | None:
    """text's `_runs` translation when it holds a run of 20, else None (most text). Every entropy candidate,
    the scan's and the redactor's (`secret_shapes.candidate_spans`, 24 of a narrower class), lies in one."""
    runs = _runs(text)
    return runs if b"a" * 20 in runs else None


def random_spans(text: str, runs: bytes | None = None) -> list[tuple[int, int]]:
    """The spans of text (which holds no redaction token) that the scan takes for random secrets;
    `runs`: `long_runs(text)` when the caller has it."""
    runs = long_runs(text) if runs is None else runs
    if runs is None:
        return []
    return [(start, end) for start, end in _candidates(text, runs, text.isascii(), True)
            if _random(text[start:end])]

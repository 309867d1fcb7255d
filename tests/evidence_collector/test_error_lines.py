"""The last error line of a log tail is the one the case-insensitive regex finds, fast path or not."""

from __future__ import annotations

import random

import pytest

from evidence_collector.detectors import ERROR_LINE, _last_error_line

WORDS = ["error", "ERROR", "Failed", "refused:", "xerror", "errors", "KILLED", "\u212aILLED", "panic!", "ok", "request",
         "status=500", "denied", "Traceback"]


@pytest.mark.parametrize("seed", range(4))
def test_the_last_error_line_is_the_last_line_the_regex_matches(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))) + "\n" for _ in range(rng.randint(0, 8))]
        expected = max((i for i, line in enumerate(lines) if ERROR_LINE.search(line)), default=None)
        assert _last_error_line(lines) == expected, lines


def test_a_kelvin_sign_still_spells_killed() -> None:
    """Unicode case folding: the regex matches 'KILLED' written with a Kelvin sign; so must the fast path."""
    assert _last_error_line(["2025-01-01T00:00:00Z \u212aILLED by the kernel\n", "ok\n"]) == 0


def test_the_fast_paths_look_first_for_a_character_of_each_word() -> None:
    """A log without the character cannot hold the word: skipping the word's search then is exact."""
    from evidence_collector import stack_traces
    from evidence_collector.detectors import crashes

    for table in (crashes._WORD_LETTERS, stack_traces._MARKER_CHARS):
        assert all(len(char) == 1 and char in word for word, char in table), table

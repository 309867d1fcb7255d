"""A crashed container's excerpt is the same made from the file or from the ends kept as it was written."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evidence_collector.redaction import Redactor
from evidence_collector.stack_traces import STACK_START, excerpt, excerpt_from_ends, holds_stack_start
from evidence_collector.staging import Staging, newline_lines

LINES = ["2025-01-01T00:00:00.000000Z INFO handled request\n", "ERROR db refused\n", "\n", "  indented frame\n",
         "line with a form feed \x0c inside\n", "caf\u00e9 au lait\n", "password=hunter2-hunter2\n",
         "Traceback (most recent call last):\n", '  File "app.py", line 3\n', "ValueError: bad\n"]


@pytest.mark.parametrize("seed", range(6))
def test_the_excerpt_from_the_ends_is_the_excerpt_of_the_file(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    compared = 0
    for run in range(60):
        staging = Staging(tmp_path / f"stage-{run}", Redactor(key=b"k" * 32), 10**6)
        staging.root.mkdir()
        blocks = ["".join(rng.choice(LINES) for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 6))]
        head, tail = rng.randint(1, 20), rng.randint(20, 60)
        result = staging.write_stream("logs/p/c.log", iter(blocks), rng.choice([10**6, 300]), keep=tail,
                                      watch=holds_stack_start)
        lines = newline_lines(staging.read("logs/p/c.log").decode("utf-8"))
        assert result.lines == len(lines)
        assert result.watched is any(marker in "".join(lines) for marker in STACK_START)
        if not result.watched:
            assert excerpt_from_ends(result.head, result.tail, result.lines, head, tail) == excerpt(lines, head, tail)
            compared += 1
    assert compared >= 5


@pytest.mark.parametrize("text", ["", "plain line\n", "Traceback (most recent call last):\n", "x Exception in thread y",
                                  "panic: boom", "goroutine 1 [running]:", "Caused by: x", "(p g x C) panic", "panic",
                                  "goroutine", "Caused by", "Traceback (most recent call"])
def test_holds_stack_start_answers_as_a_search_for_each_marker(text: str) -> None:
    assert holds_stack_start(text) is any(marker in text for marker in STACK_START)

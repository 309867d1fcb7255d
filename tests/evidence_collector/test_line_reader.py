"""Line bounds of a received log, and the packer that compresses staged members ahead of the bundle."""

from __future__ import annotations

import os
import random
import threading

from evidence_collector.container_logs import MAX_LINE, LineReader, _has_long_line
from evidence_collector.packer import NICENESS, Packer
from pathops_contracts.bundle_writer import pack_member


def test_the_long_line_check_answers_as_splitting_does() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        sizes = [0, 5, MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 3 * MAX_LINE]
        lengths = [rng.choice(sizes) for _ in range(rng.randint(0, 6))]
        block = "\n".join("x" * n for n in lengths) + ("\n" if rng.random() < 0.7 else "")
        assert _has_long_line(block) == (max(map(len, block.split("\n"))) > MAX_LINE), lengths


def test_long_lines_are_cut_and_the_rest_kept() -> None:
    chunks = [b"short one\n" + b"y" * (MAX_LINE + 10) + b"\nafter\n"]
    text = "".join(LineReader(chunks, 10**6))
    assert text.splitlines() == ["short one", "y" * MAX_LINE + " [line cut]", "after"]


def test_the_packer_packs_each_member_as_last_written() -> None:
    packer = Packer()
    for n in range(300):  # several batches
        packer.add(f"logs/p-{n}/c.log", b"line %d\n" % n * 500)
    packer.add("logs/p-7/c.log", b"rewritten\n")
    packer.discard("logs/p-8/c.log")
    packed = packer.packed()
    packer.close()
    assert "logs/p-8/c.log" not in packed and len(packed) == 299
    assert packed["logs/p-7/c.log"] == pack_member("logs/p-7/c.log", b"rewritten\n")
    assert packed["logs/p-9/c.log"] == pack_member("logs/p-9/c.log", b"line 9\n" * 500)


def test_the_packer_thread_yields_the_cpu_to_the_collection() -> None:
    """Its work waits for the bundle; the event loop's is on every log's round trip."""
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    packer = Packer()
    for n in range(300):  # past one batch: the thread starts
        packer.add(f"logs/p-{n}/c.log", b"line %d\n" % n * 500)
    packer.packed()
    assert packer._pool is not None
    niceness = packer._pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    packer.close()
    assert niceness == min(ours + NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # the caller's thread is left as it was

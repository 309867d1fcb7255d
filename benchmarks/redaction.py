"""Benchmark: the shared redactor and the final secret scan, on clean logs and on hostile text.

Prints throughput on a clean log (MB/s), and for each hostile input (text an attacker can
put in a log line) the time ratio between 4x and 1x its size: about 4 means linear; 16
would mean quadratic, a way for one log line to spend the collector's deadline.
Target: every ratio under 8 (a loaded machine adds noise; quadratic would be 16).

    python benchmarks/redaction.py [--kb 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agents"))

from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_scan import scan_text
from pathops_testbed.kube_api import SharedLog

HOSTILE: dict[str, Callable[[int], str]] = {
    "identifier after a keyword": lambda n: "key" + "a" * n,
    "base64 line after 'private key'": lambda n: "private key " + "A" * n,
    "base64 lines before no END": lambda n: "private key\n" + ("A" * 63 + "\n") * (n // 64),
    "repeated '://'": lambda n: "a://" * (n // 4),
    "repeated assignments": lambda n: "AccountKey=" * (n // 11),
    "repeated pairs": lambda n: "pwd=a " * (n // 6),
    "JSON-escaped quote never closed": lambda n: 'password\\":\\"' + "a" * n,
}


def seconds(run: Callable[[str], object], text: str, repeat: int = 3) -> float:
    """The fastest of `repeat` runs: the least disturbed by whatever else the machine does."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run(text)
        best = min(best, time.perf_counter() - started)
    return best


def redact(text: str) -> str:
    return Redactor().redact(text, "bench.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=int, default=100, help="size of the 1x hostile input")
    args = parser.parse_args()
    log = b"".join(SharedLog(4 * 1024 * 1024, datetime.now(UTC)).render(None, None, None, True)).decode()
    redacted = "".join(Redactor().redact_blocks([log], "bench.log"))
    megabytes = len(log) / 1e6
    print(f"clean log, {megabytes:.1f} MB: redact {megabytes / seconds(redact, log, 1):.1f} MB/s,"
          f" scan {megabytes / seconds(scan_text, redacted, 1):.1f} MB/s")
    size = args.kb * 1024
    worst = 0.0
    for name, make in HOSTILE.items():
        small, large = make(size), make(4 * size)
        for step, run in (("redact", redact), ("scan", scan_text)):
            ratio = seconds(run, large) / max(seconds(run, small), 1e-4)
            worst = max(worst, ratio)
            print(f"{name:34s} {step:6s} 4x size -> {ratio:5.1f}x time")
    print(f"worst ratio {worst:.1f} (target < 8; quadratic would be 16)")


if __name__ == "__main__":
    main()

"""Benchmark: how long each CLI takes to print --version and --help, against bare Python and click.

Each figure is the median wall time of a fresh process (the console script of this venv),
so it includes the interpreter's own start. Printed beside two baselines measured in the same
run: `python -c pass` and `python -c "import click"` (what a CLI cannot do without), and the
import of the libraries the agents use for their work (what --help no longer pays for).
Target: every CLI's --version and --help in <= 0.15 s on an idle machine.

    python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TOOLS = ["evidence-collector", "fix-agent", "verification-agent", "gitops-patcher", "mr-creator", "pathops"]
LIBRARIES = "import boto3, kubernetes, gitlab, openai, jsonschema, docker, requests, git"


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    python = median_seconds([sys.executable, "-c", "pass"], runs)
    click = median_seconds([sys.executable, "-c", "import click"], runs)
    libraries = median_seconds([sys.executable, "-c", LIBRARIES], max(3, runs // 2))
    print(f"python -c pass        {python:6.3f} s")
    print(f"python -c import click {click:6.3f} s  (the floor of a click CLI)")
    print(f"the agents' libraries  {libraries:6.3f} s  ({LIBRARIES[7:]})")
    print(f"\n{'tool':20} {'--version':>10} {'--help':>10} {'x click':>8}  target <= 0.15 s")
    for tool in TOOLS:
        version = median_seconds([str(BIN / tool), "--version"], runs)
        help_text = median_seconds([str(BIN / tool), "--help"], runs)
        slowest = max(version, help_text)
        verdict = "ok" if slowest <= 0.15 else "over"
        print(f"{tool:20} {version:9.3f}s {help_text:9.3f}s {slowest / click:7.2f}x  {verdict}")


if __name__ == "__main__":
    main()

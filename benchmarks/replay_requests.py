"""The replay client of `evidence_collection.py`: make the requests listed in a file, only read the answers.

A child process of its own, importing only the runtime's client (no testbed, no benchmark code), so that
timed from its start to its exit it pays what any Python client of this API pays: its start, its imports,
the requests. Prints the seconds the requests alone took.

    python benchmarks/replay_requests.py PATHS_FILE [--concurrency 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pathops_runtime.kube_connection import load_connection
from pathops_runtime.log_streams import LogFetch, LogStreams


def replay(listed: Path, concurrency: int) -> float:
    """Make every request of the file, `concurrency` at a time; the seconds they took."""
    streams = LogStreams[LogFetch](load_connection(None, None), concurrency)
    limit = streams.in_flight_bytes // max(concurrency, 1)  # all `concurrency` in flight at once
    fetches = [LogFetch(path, limit, time.monotonic() + 600) for path in listed.read_text().splitlines()]
    failed: list[Exception] = []
    started = time.monotonic()
    streams.run(fetches, lambda fetch: fetch,
                lambda _, __, outcome: failed.append(outcome) if isinstance(outcome, Exception) else None)
    seconds = time.monotonic() - started
    if failed:
        raise SystemExit(f"the replay failed: {failed[0]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", type=Path, help="a file of request paths (with their queries), one a line")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"{replay(args.paths, args.concurrency):.3f}")


if __name__ == "__main__":
    main()

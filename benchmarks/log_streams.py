"""Benchmark: the CPU that `LogStreams` spends per log answer, the server's excluded.

A raw loopback server (threads of its own) answers every GET on a kept-alive connection as
kube-apiserver answers a log request: a few headers, a chunked body (4 KB in two chunks). The
client reads `--logs` of them with `--concurrency` streams in flight; the figure is the CPU time
of the client's thread (time.thread_time: the event loop, the HTTP parsing, the request writing),
divided by the answers read. The baseline, in the same run: the standard library's http.client
reading the same answers one after the other on one kept-alive connection (no event loop at all).
The median of `--rounds` rounds is shown, with the load average (the machine may be shared).

    python benchmarks/log_streams.py [--logs 3000] [--concurrency 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import threading
import time

from pathops_runtime.kube_connection import KubeConnection
from pathops_runtime.log_streams import LogBody, LogFetch, LogStreams

_LINE = b"2026-12-01T20:00:00.000000000Z INFO request served path=/api/v1/orders status=200 took=12ms\n"
_BODY = _LINE * (4096 // len(_LINE))
_HALF = len(_BODY) // 2
ANSWER = (b"HTTP/1.1 200 OK\r\nAudit-Id: 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b\r\n"
          b"Cache-Control: no-cache, private\r\nContent-Type: text/plain\r\n"
          b"Date: Tue, 01 Dec 2026 20:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
          + b"%x\r\n" % _HALF + _BODY[:_HALF] + b"\r\n"
          + b"%x\r\n" % (len(_BODY) - _HALF) + _BODY[_HALF:] + b"\r\n0\r\n\r\n")


def _serve(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_answer_all, args=(connection,), daemon=True).start()


def _answer_all(connection: socket.socket) -> None:
    """Every request head that arrives gets the answer; requests carry no body."""
    pending = b""
    with connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := connection.recv(65536):
            pending += data
            while (end := pending.find(b"\r\n\r\n")) >= 0:
                pending = pending[end + 4:]
                connection.sendall(ANSWER)


def _round(server: str, logs: int, concurrency: int) -> float:
    """CPU seconds of this thread per answer read."""
    fetches = [LogFetch(f"/api/v1/namespaces/ns/pods/web-{n}/log?container=web&limitBytes=100000", 100_000,
                        time.monotonic() + 60) for n in range(logs)]
    read: list[int] = []

    def finish(_: LogFetch, __: LogFetch, outcome: LogBody | Exception) -> None:
        assert isinstance(outcome, LogBody) and outcome.size == len(_BODY), outcome
        read.append(1)

    streams = LogStreams[LogFetch](KubeConnection(server, token="benchmark"), concurrency)
    started = time.thread_time()
    streams.run(fetches, lambda fetch: fetch, finish)
    spent = time.thread_time() - started
    assert len(read) == logs
    return spent / logs


def _baseline_round(port: int, logs: int) -> float:
    """CPU seconds of this thread per answer read by http.client, one request at a time."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = KubeConnection("http://127.0.0.1", token="benchmark").headers()
    started = time.thread_time()
    for n in range(logs):
        connection.request("GET", f"/api/v1/namespaces/ns/pods/web-{n}/log?container=web&limitBytes=100000",
                           headers=headers)
        answer = connection.getresponse()
        assert answer.status == 200 and len(answer.read()) == len(_BODY)
    spent = time.thread_time() - started
    connection.close()
    return spent / logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=_serve, args=(listener,), daemon=True).start()
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        _round(server, 200, args.concurrency)  # warm up: imports, first connections
        rounds, baseline = [], []
        for _ in range(args.rounds):  # alternated: a change in the machine's load touches both
            rounds.append(_round(server, args.logs, args.concurrency))
            baseline.append(_baseline_round(listener.getsockname()[1], args.logs))
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    ours, theirs = statistics.median(rounds), statistics.median(baseline)
    print(f"{args.logs} log answers of {len(_BODY)} bytes, chunked; client CPU per answer, median of "
          f"{args.rounds} rounds; load average {load}")
    print(f"LogStreams (--concurrency {args.concurrency}): {ours * 1e6:5.0f} µs  "
          f"(rounds: {', '.join(f'{value * 1e6:.0f}' for value in rounds)})")
    print(f"http.client (one at a time): {theirs * 1e6:5.0f} µs  "
          f"(rounds: {', '.join(f'{value * 1e6:.0f}' for value in baseline)})")
    print(f"LogStreams / http.client: {ours / theirs:.2f}x the CPU per answer")


if __name__ == "__main__":
    main()

"""Findings number a log's lines as `sed -n`, `grep -n` and editors do: one line per newline.

Container logs carry carriage returns (progress bars redrawn in place), form feeds and Unicode line
separators inside their lines. Python's str.splitlines breaks at every one of those; counted that way,
a pointer or a quote lands lines away from what it shows when a person opens the file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence_collector.redaction import Redactor
from evidence_collector.stack_traces import excerpt, holds_stack_start
from evidence_collector.staging import Staging, first_lines, last_lines, newline_lines
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_objects import ago, container, deployment, pod, replicaset, waiting
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster, unpack

NS = scenarios.NS
# Each of these is ONE line of the log: the separators inside are part of what the app wrote.
NOISY = ["downloading model 10%\rdownloading model 55%\rdownloading model 100%", "page break\x0cafter a form feed",
         "record\x1dgroup\x1eseparators", "caf\u00e9 \u2028 line separator \u2029 paragraph \x85 next line",
         "a windows line\r"]
CRASH = ["Traceback (most recent call last):", '  File "/app/main.py", line 9, in <module>', "    main()",
         "RuntimeError: model file truncated"]


def _sed_lines(path: Path) -> list[str]:
    """The file's lines as `sed -n Np` numbers them (1-based through the index + 1), without the newline."""
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def _crash_looping(tmp_path: Path, name: str, previous_log: list[str], minutes_ago: float = 5) -> Iterator[Cluster]:
    """A Deployment of one pod whose container `name` crash-loops, its previous container's log given."""
    api = FakeKubernetes()
    app = deployment(name, NS, {"containers": [container(name, f"harbor/{name}:1", probe_path=None)]},
                     revision=1, replicas=1, ready=0)
    rs = replicaset(app, 1, app["spec"]["template"]["spec"], replicas=1)
    crash = {"exitCode": 1, "reason": "Error", "finishedAt": ago(1)}
    api.add_all([app, rs, pod(f"{name}-abc", rs, [waiting(name, f"harbor/{name}:1", "CrashLoopBackOff",
                                                          "back-off 5m0s restarting failed container", restarts=4,
                                                          last_terminated=crash)])])
    api.set_log(NS, f"{name}-abc", name, scenarios.lines("starting"))
    api.set_log(NS, f"{name}-abc", name, scenarios.lines(*previous_log, minutes_ago=minutes_ago), previous=True)
    with BackgroundServer(api) as server:
        yield Cluster(api, write_kubeconfig(tmp_path / "kubeconfig", server.url, NS), server)


@pytest.fixture
def noisy_crash(tmp_path: Path) -> Iterator[Cluster]:
    yield from _crash_looping(tmp_path, "model", ["loading model", *NOISY, *NOISY, *CRASH, "fatal: giving up"])


def test_pointers_and_quotes_number_lines_by_newlines(noisy_crash: Cluster, tmp_path: Path) -> None:
    result = noisy_crash.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    findings: list[dict[str, Any]] = json.loads((folder / "findings.json").read_text())["findings"]
    crash = next(f for f in findings if f["kind"] == "crash-loop")
    log = "logs/model-abc/model.previous.log"
    lines = _sed_lines(folder / log)
    assert len(lines) == 1 + 2 * len(NOISY) + len(CRASH) + 1
    quotes = [q for q in crash["quotes"] if q["file"] == log]
    assert quotes, crash
    for quote in quotes:
        assert lines[quote["line"] - 1].endswith(quote["text"].split(" ", 1)[1]), (quote, lines)
    assert [q["text"].split(" ", 1)[1] for q in quotes][-1] == CRASH[-1]
    pointer = next(p for p in crash["pointers"] if p["file"] == log)
    first, last = pointer["lines"]
    assert 1 <= first <= last <= len(lines)
    assert lines[last - 1].endswith("fatal: giving up") or lines[last - 1].endswith(CRASH[-1])


def _stream(tmp_path: Path, blocks: list[str], limit: int = 10**6, keep: int = 3) -> tuple[Any, list[str]]:
    staging = Staging(tmp_path / "stage", Redactor(key=b"k" * 32), 10**7)
    staging.root.mkdir()
    result = staging.write_stream("logs/p/c.log", iter(blocks), limit, keep=keep, watch=holds_stack_start)
    written = staging.read("logs/p/c.log").decode("utf-8")
    return result, [line + "\n" for line in written.split("\n")[:-1]]


@pytest.mark.parametrize("keep", [1, 3, 50])
def test_the_stream_counts_and_keeps_newline_lines(tmp_path: Path, keep: int) -> None:
    blocks = ["one\rtwo\n", "three\x0cfour\nfive\u2028six\n", "seven\n\n", "eight\x85nine\n", "ten\n"]
    result, lines = _stream(tmp_path, blocks, keep=keep)
    assert result.lines == len(lines) == 7
    assert result.head == lines[:keep]
    assert result.tail == lines[-keep:]


def test_a_cut_stream_counts_what_it_wrote(tmp_path: Path) -> None:
    blocks = ["a\rb\n" * 10, "c\x0cd\n" * 10]
    result, lines = _stream(tmp_path, blocks, limit=len("a\rb\n" * 10) + 12)
    assert result.cut
    assert result.lines == len(lines) == 13
    assert result.tail == lines[-3:]


@pytest.mark.parametrize("seed", range(4))
def test_the_ends_of_a_block_are_the_ends_of_its_lines(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "b", "\n", "\n", "\r", "\x0c", "\u2028", "\u00e9", " "]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        count = rng.randrange(0, 12)
        lines = newline_lines(text)
        assert "".join(lines) == text
        assert all(line.endswith("\n") for line in lines[:-1]) and all("\n" not in line[:-1] for line in lines)
        assert first_lines(text, count) == lines[:count]
        assert last_lines(text, count) == (lines[-count:] if count else [])


# A log that ends inside a private key (the app crashed while printing it, or the stream was cut there):
# the redactor replaces the key through the end of the text, its last newline with it.
UNTERMINATED_KEY = ["ERROR failed to load the TLS key, it reads:", "-----BEGIN RSA PRIVATE KEY-----",
                    "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi", "Z1BjP5CE/Wm/Rr500P"]


@pytest.fixture
def crash_in_a_key(tmp_path: Path) -> Iterator[Cluster]:
    yield from _crash_looping(tmp_path, "tls", [*(f"handled request {i}" for i in range(70)), *UNTERMINATED_KEY],
                              minutes_ago=3)


def test_a_log_that_ends_inside_a_key_is_numbered_as_sed_numbers_it(crash_in_a_key: Cluster, tmp_path: Path) -> None:
    result = crash_in_a_key.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    log = "logs/tls-abc/tls.previous.log"
    written = (folder / log).read_bytes().decode("utf-8")
    assert "MIIEpAIBAAKCAQEA" not in written and "[REDACTED:pem-private-key:" in written
    lines = newline_lines(written)  # sed -n, grep -n and editors number an unterminated last line too
    assert len(lines) == 70 + 2
    crash = next(f for f in json.loads((folder / "findings.json").read_text())["findings"] if f["kind"] == "crash-loop")
    quotes = [q for q in crash["quotes"] if q["file"] == log]
    assert quotes, crash
    for quote in quotes:
        assert lines[quote["line"] - 1].rstrip("\n").endswith(quote["text"].split(" ", 1)[1]), (quote, lines[-6:])
    assert quotes[-1]["text"].endswith(UNTERMINATED_KEY[0])
    pointer = next(p for p in crash["pointers"] if p["file"] == log)
    assert lines[pointer["lines"][1] - 1].rstrip("\n").endswith(UNTERMINATED_KEY[0])
    # The excerpt made from the stream's ends is the one made from the file: head, then every later line of the tail.
    excerpt_text = (folder / "logs/tls-abc/tls.previous.excerpt.txt").read_text()
    assert excerpt_text == excerpt(lines, 20, 60)


@pytest.mark.parametrize("where", ["last", "inside"])
def test_a_key_redacted_to_the_end_of_its_block_keeps_the_lines_apart(tmp_path: Path, where: str) -> None:
    # A block that ends inside a key is held until the END line comes, unless it is already 1 MiB long:
    # then, or at the end of the stream, the key is redacted through the end of the block.
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\n" * (
        30_000 if where == "inside" else 3)
    blocks = ["one\n", "two\n", "key: " + key] + (["after\n", "done\n"] if where == "inside" else [])
    staging = Staging(tmp_path / "stage", Redactor(key=b"k" * 32), 10**8)
    staging.root.mkdir()
    result = staging.write_stream("logs/p/c.log", iter(blocks), 10**7, keep=3)
    text = staging.read("logs/p/c.log").decode("utf-8")
    written = newline_lines(text)
    assert text.endswith("\n") and "MIIE" not in text
    assert written[2].startswith("key: [REDACTED:pem-private-key:")
    assert result.lines == len(written) == (5 if where == "inside" else 3)
    assert result.head == written[:3]
    assert result.tail == written[-3:]

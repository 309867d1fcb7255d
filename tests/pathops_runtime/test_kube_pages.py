"""Lists from an API that misbehaves: continue tokens that go round, an answer trickled past the deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts.errors import UpstreamError
from pathops_runtime.kube_reader import ByteAllowance, DeadlineReached, KubeReader, ListCut
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import write_kubeconfig


class LoopingList:
    """A ConfigMap list whose pages continue as `tokens` says, forever: page n names the item `cm-n`."""

    def __init__(self, tokens: Callable[[int], str]) -> None:
        self.tokens = tokens
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        number = self.requests
        self.requests += 1
        body = json.dumps({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"continue": self.tokens(number)},
                           "items": [{"metadata": {"name": f"cm-{number}"}}]}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.mark.parametrize("tokens", [lambda n: "same", lambda n: "ab"[n % 2]], ids=["repeated", "cycling"])
def test_a_continue_token_sent_again_ends_the_list_with_an_error(tokens: Callable[[int], str],
                                                                    tmp_path: Path) -> None:
    api = LoopingList(tokens)
    with BackgroundServer(api) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        reader.deadline = time.monotonic() + 20  # before: pages until the deadline, thousands of duplicates
        seen: list[str] = []
        with pytest.raises(UpstreamError, match="continue token it sent before") as raised:
            for page in reader.pages("configmaps", "ns"):
                seen.extend(item["metadata"]["name"] for item in page)
    assert not isinstance(raised.value, DeadlineReached)
    assert len(seen) == len(set(seen)) <= 2 and api.requests <= 3


def test_a_list_that_never_ends_is_cut_once_its_answers_reach_max_bytes(tmp_path: Path) -> None:
    """New tokens for ever: no deadline needed, the bytes read end it, after the page that reached them."""
    api = LoopingList(lambda n: f"token-{n}")
    with BackgroundServer(api) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        seen: list[str] = []
        with pytest.raises(ListCut) as raised:
            for page in reader.pages("configmaps", "ns", max_bytes=1000):
                seen.extend(item["metadata"]["name"] for item in page)
    assert seen == [f"cm-{n}" for n in range(api.requests)] and 5 < api.requests < 20
    assert raised.value.items == api.requests and 1000 <= raised.value.read < 1200
    assert str(raised.value).startswith(f"read no further than {api.requests} items")


def test_lists_sharing_an_allowance_are_read_no_further_than_it_together(tmp_path: Path) -> None:
    """Eight Deployments' ReplicaSet lists were each read to max_bytes (eight at once, all held): shared bytes
    bound them together, a list begun once they are spent is not asked for, and each cut list is counted."""
    api = LoopingList(lambda n: f"token-{n}")
    with BackgroundServer(api) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        shared = ByteAllowance(1000)
        for _ in range(3):
            with pytest.raises(ListCut):
                for _page in reader.pages("configmaps", "ns", max_bytes=shared):
                    pass
    assert 1000 <= shared.spent < 1200 and shared.cut == 3 and 5 < api.requests < 20
    shared.settle(0, -shared.spent)  # given back: what its readers let go of
    assert shared.spent == 0


def test_a_list_that_ends_on_the_page_reaching_max_bytes_is_not_cut(tmp_path: Path) -> None:
    ended = LoopingList(lambda n: "" if n == 2 else f"token-{n}")  # three pages of 110-125 bytes
    with BackgroundServer(ended) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        pages = list(reader.pages("configmaps", "ns", max_bytes=300))
    assert [page[0]["metadata"]["name"] for page in pages] == ["cm-0", "cm-1", "cm-2"]


def test_an_answer_trickled_a_byte_at_a_time_ends_at_the_deadline(tmp_path: Path) -> None:
    """Each byte within the read timeout: before, the 45-byte answer was read whole, 14 s past a 2 s deadline
    (a 4 MiB page would have held the run for days)."""
    body = json.dumps({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": []}).encode()

    def trickle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        for byte in body:
            time.sleep(0.3)
            yield bytes([byte])

    with BackgroundServer(trickle) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        reader.deadline = time.monotonic() + 2
        with pytest.raises(DeadlineReached, match="while the answer for /api/v1/namespaces/ns/configmaps was read"):
            reader.list("configmaps", "ns")

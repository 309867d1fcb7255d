"""The first requests, sent before the command has read all its input: a run that stops early does not wait on them."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import BIN


class HeldLists:
    """The fake API, except that the events list is answered only once `release` is set."""

    def __init__(self, api: FakeKubernetes) -> None:
        self.api = api
        self.release = threading.Event()
        self.asked = threading.Event()
        self.answered = threading.Event()
        self.events_requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"].endswith("/events"):
            self.events_requests += 1
            self.asked.set()
            self.release.wait(120)
            self.answered.set()
        return self.api(environ, start_response)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[HeldLists, Path]]:
    api = FakeKubernetes()
    scenarios.build(api)
    app = HeldLists(api)
    with BackgroundServer(app) as server:
        try:
            yield app, write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS)
        finally:
            app.release.set()


def test_bad_input_found_after_the_first_requests_exits_2_without_waiting_for_them(
        held: tuple[HeldLists, Path], tmp_path: Path) -> None:
    app, kubeconfig = held
    patterns = tmp_path / "patterns.txt"
    patterns.write_text("custom: (unclosed\n")
    result = subprocess.run(
        [str(BIN / "evidence-collector"), "collect", "--no-upload", "--redaction-patterns", str(patterns)],
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "INCIDENT_ID": "INC-1042", "APP_ID": "shop-frontend",
             "TARGET_NAMESPACE": scenarios.NS},
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    # The events list read ahead was still unanswered when the process ended, asked once: the process did
    # not wait for it (nor time out and ask again, as a client still reading would).
    assert app.asked.is_set() and not app.answered.is_set()
    assert app.events_requests == 1


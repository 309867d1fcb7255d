"""The first requests, sent before the command has read all its input: a run that stops early does not wait on them."""

from __future__ import annotations

import copy
import gc
import json
import os
import subprocess
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evidence_collector.bounds import Bounds
from evidence_collector.collector import Collector
from evidence_collector.opening import Focus, Opening, read_ahead
from evidence_collector.staging import Staging
from evidence_collector.window import resolve_window
from pathops_contracts.redaction import Redactor
from pathops_runtime.kube_reader import KubeReader
from pathops_testbed import kube_objects
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import BIN, load_jsonl, unpack


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


class RolloutDuringReadAhead:
    """The fake API, where a rollout begins between the owners' pages read ahead and the pods' page:
    shop-frontend is updated to a new commit, and a third ReplicaSet of it, and a pod of that, appear
    after both pages were answered."""

    NEW_SHA = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, api: FakeKubernetes) -> None:
        self.api = api
        self.owners_answered = {"replicasets": threading.Event(), "deployments": threading.Event()}
        self.rolled_out = False
        self.new_replicaset = ""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        if path.endswith("/pods") and "limit=1&" not in query + "&" and not self.rolled_out:
            for answered in self.owners_answered.values():
                answered.wait(30)
            self._roll_out()
        answer = self.api(environ, start_response)
        if (plural := path.rsplit("/", 1)[-1]) in self.owners_answered:
            self.owners_answered[plural].set()
        return answer

    def _roll_out(self) -> None:
        self.rolled_out = True
        frontend = copy.deepcopy(self.api.objects["deployments"][scenarios.NS]["shop-frontend"])
        frontend["metadata"]["annotations"].update({"pathops.io/source-commit": self.NEW_SHA,
                                                    "deployment.kubernetes.io/revision": "3"})
        web = kube_objects.container("web", scenarios.IMAGE.replace(scenarios.SHA[:12], self.NEW_SHA[:12]),
                                     probe_path="/ready")
        frontend["spec"]["template"]["spec"] = {"containers": [web]}
        self.api.add(frontend)
        replicaset = kube_objects.replicaset(frontend, 3, {"containers": [web]}, replicas=1)
        replicaset["metadata"]["annotations"]["pathops.io/source-commit"] = self.NEW_SHA
        self.new_replicaset = replicaset["metadata"]["name"]
        self.api.add(replicaset)
        self.api.add(kube_objects.pod(f"{self.new_replicaset}-p0", replicaset, [kube_objects.running("web", "x")]))


def test_a_rollout_begun_after_the_owners_were_read_ahead_is_not_reported_as_the_one_before(
        tmp_path: Path) -> None:
    api = FakeKubernetes()
    scenarios.build(api)
    app = RolloutDuringReadAhead(api)
    with BackgroundServer(app) as server:
        result = subprocess.run(
            [str(BIN / "evidence-collector"), "collect", "--no-upload", "--output-dir", str(tmp_path / "out")],
            env={**os.environ, "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS)),
                 "INCIDENT_ID": "INC-1042", "APP_ID": "shop-frontend", "TARGET_NAMESPACE": scenarios.NS},
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert app.rolled_out
    folder = unpack(tmp_path / "out")
    owners = {o["metadata"]["name"] for o in load_jsonl(folder / "objects/owners.jsonl")}
    assert app.new_replicaset in owners  # its pod was read, and the pod's owner with it
    rollout: Any = next(d for d in load_jsonl(folder / "objects/rollout-diffs.jsonl")
                        if d["deployment"] == "shop-frontend")
    # The rollout under way is the last one: its ReplicaSet is the current one, not the one it replaces.
    assert rollout["current"] == app.new_replicaset
    assert rollout["previous"] != app.new_replicaset and rollout["previous"].startswith("shop-frontend-")
    # And the Deployment is the one that rollout made, not the one the page read ahead held before it.
    assert json.loads(result.stdout)["source_commit_sha"] == app.NEW_SHA


def test_the_first_pages_read_ahead_are_let_go_once_read(tmp_path: Path) -> None:
    """Each page read ahead is held (unparsed, up to 500 objects) until its list is read, then let go: none is
    kept for the rest of the collection beside the objects parsed from it."""
    api = FakeKubernetes()
    scenarios.build(api)
    with BackgroundServer(api) as server:
        bounds = Bounds(deadline_seconds=60)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS)
        reader = KubeReader.connect(str(kubeconfig), None, bounds.concurrency)
        opening = Opening.begin(reader, scenarios.NS, read_ahead(Focus()), bounds.deadline_seconds, bounds.concurrency)
        opening.probe.result()
        pages = {ahead: weakref.ref(future) for ahead, future in opening.ahead.items()}
        staging = Staging(tmp_path / "snapshot", Redactor(key=b"k" * 32), bounds.total_bytes)
        staging.root.mkdir()
        collector = Collector(reader, staging, scenarios.NS, resolve_window("30m", datetime.now(UTC)), bounds,
                              Focus(), opening)
        collector.collect()
        staging.close()
    gc.collect()
    assert pages[("pods", None)]() is None and pages[("events", None)]() is None
    assert not [ahead for ahead, page in pages.items() if page() is not None]


def test_configmaps_are_read_ahead_a_small_page_and_the_rest_continued(tmp_path: Path) -> None:
    """Their first page (10: a ConfigMap may weigh 1 MiB) is asked for with the other lists; a longer
    list goes on from it when its turn comes, 50 a page; every ConfigMap is summarised, once."""
    api = FakeKubernetes()
    scenarios.build(api)
    names = [f"extra-{n:02d}" for n in range(64)]
    api.add_all([kube_objects.configmap(name, scenarios.NS, {"key": name}) for name in names])
    with BackgroundServer(api) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS)
        result = subprocess.run([str(BIN / "evidence-collector"), "collect", "--no-upload", "--output-dir",
                                 str(tmp_path / "out"), "--time-window", "30m"],
                                env={**os.environ, "KUBECONFIG": str(kubeconfig), "INCIDENT_ID": "INC-1",
                                     "APP_ID": "shop-frontend", "TARGET_NAMESPACE": scenarios.NS},
                                capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    asked = [path for path in api.requests if path.split("?")[0].endswith("/configmaps")]
    assert "limit=10" in asked[0] and "continue=" not in asked[0]
    assert all("limit=50" in path and "continue=" in path for path in asked[1:]) and len(asked) == 3
    summary = json.loads((unpack(tmp_path / "out") / "objects/configmaps.json").read_text())["configmaps"]
    listed = [entry["name"] for entry in summary]
    assert sorted(listed) == sorted(set(listed)) and set(names) <= set(listed)

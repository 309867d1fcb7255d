"""The collector against an API that fails, throttles, trickles or never stops: bounded, and never wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pathops_testbed.kube_api import EndlessLog, TricklingLog
from pathops_testbed.kube_objects import event
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster, unpack

PODS_LIST = r"/namespaces/shop-frontend-preflight/pods$"


def _run(cluster: Cluster, tmp_path: Path, *args: str, **env: str) -> tuple[dict[str, Any], Path]:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), *args, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), unpack(tmp_path / "out")


def _manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def _kinds(folder: Path) -> set[str]:
    return {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, None), (429, "1")])
def test_a_transient_failure_of_the_pods_list_is_retried(cluster: Cluster, tmp_path: Path, status: int,
                                                         retry_after: str | None) -> None:
    # The access probe is the first pods list: fail it and the real list once each.
    cluster.api.fail(PODS_LIST, status, times=2, retry_after=retry_after)
    out, folder = _run(cluster, tmp_path)
    assert (folder / "objects/pods.jsonl").read_text().count("\n") == 7
    assert not [g for g in _manifest(folder)["gaps"] if g["what"] == "pods"]
    assert "crash-loop" in _kinds(folder) and "service-no-pods" not in _kinds(folder)
    assert out["summary"].startswith("6 finding(s)") or "finding(s)" in out["summary"]


def test_a_pods_list_that_keeps_failing_is_a_gap_not_an_empty_namespace(cluster: Cluster, tmp_path: Path) -> None:
    cluster.api.fail(PODS_LIST, 500, times=1000)
    out, folder = _run(cluster, tmp_path)
    gaps = {g["what"]: g for g in _manifest(folder)["gaps"]}
    assert gaps["pods"]["reason"] == "error" and "500" in gaps["pods"]["detail"]
    assert gaps["access probe (pods)"]["reason"] == "error"
    # No pod was read, so no service can be said to select none.
    assert not _kinds(folder) & {"service-no-pods", "service-no-endpoints", "service-port-mismatch"}
    assert "not read completely" in out["summary"] and "pods" in out["summary"]
    assert "No problem detected" not in out["summary"]


def test_a_list_that_breaks_on_its_second_page_keeps_the_first_and_says_so(cluster: Cluster, tmp_path: Path) -> None:
    for index in range(600):  # two pages of events (500 a page), all in the window
        cluster.api.add(event(scenarios.NS, "Pod", "catalog-1", "Pulled", f"pulled {index}", 4, kind_of_event="Normal"))
    cluster.api.fail(r"/events$", 500, times=1000, continued=True)
    out, folder = _run(cluster, tmp_path)
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "events")
    assert gap["reason"] == "error" and "after 500 items" in gap["detail"]
    assert 0 < (folder / "objects/events.jsonl").read_text().count("\n") <= 500
    assert "events" in out["summary"]


def test_the_access_probe_500_does_not_fail_the_run(cluster: Cluster, tmp_path: Path) -> None:
    cluster.api.fail(PODS_LIST, 500, times=4)  # every attempt of the probe, then the list works
    _, folder = _run(cluster, tmp_path)
    assert (folder / "objects/pods.jsonl").read_text().count("\n") == 7
    assert any(g["what"] == "access probe (pods)" for g in _manifest(folder)["gaps"])


def test_a_namespace_that_does_not_exist_says_so(cluster: Cluster, tmp_path: Path) -> None:
    out, folder = _run(cluster, tmp_path, TARGET_NAMESPACE="shop-frontend-prefligth")
    assert "does not exist" in out["summary"] and "No problem detected" not in out["summary"]
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "namespaces/shop-frontend-prefligth")
    assert gap["reason"] == "not_found"


def test_an_empty_namespace_says_so_when_the_namespace_object_cannot_be_read(cluster: Cluster,
                                                                               tmp_path: Path) -> None:
    cluster.api.forbid("namespaces")  # a Role in the namespace cannot always read the Namespace itself
    out, _ = _run(cluster, tmp_path, TARGET_NAMESPACE="shop-frontend-prefligth")
    assert "empty or does not exist" in out["summary"]


def test_a_trickling_log_and_a_log_that_never_ends_are_cut_at_the_deadline(cluster: Cluster, tmp_path: Path) -> None:
    cluster.api.set_log(scenarios.NS, "catalog-1", "catalog", TricklingLog([f"line {n}" for n in range(500)], 0.2))
    cluster.api.set_log(scenarios.NS, "worker-xyz", "worker", EndlessLog(), previous=True)
    cluster.api.ignore_limit_bytes = True
    out, folder = _run(cluster, tmp_path, "--deadline", "6")
    trickled = (folder / "logs/catalog-1/catalog.log").read_text().splitlines()
    assert trickled and trickled[0].endswith("line 300") and len(trickled) < 200  # the healthy tail, cut
    gaps = {g["what"]: g for g in _manifest(folder)["gaps"]}
    assert gaps["logs/catalog-1/catalog.log"]["reason"] == "truncated"
    assert "deadline" in gaps["logs/catalog-1/catalog.log"]["detail"]
    assert gaps["logs/worker-xyz/worker.previous.log"]["reason"] == "truncated"
    assert (folder / "logs/worker-xyz/worker.previous.log").stat().st_size > 0
    assert "crash-loop" in _kinds(folder)  # the rest of the snapshot is whole
    assert out["gaps"] == len(_manifest(folder)["gaps"])


def test_a_store_that_never_answers_fails_the_run_at_the_upload_deadline(cluster: Cluster, silent_s3: str,
                                                                         httpserver: Any) -> None:
    result = cluster.collect(MINIO_ENDPOINT=silent_s3, MINIO_BUCKET="evidence",
                             CONTROL_PLANE_CALLBACK_URL=httpserver.url_for("/api/evidence/callback"),
                             EVIDENCE_UPLOAD_DEADLINE_SECONDS="3")
    assert result.returncode == 5
    assert "within 3 s" in result.stderr.strip().splitlines()[-1]
    assert not httpserver.log  # nothing announced


@pytest.mark.parametrize("window", ["99999999999d", "1000000000d"])
def test_an_absurd_window_is_bad_input(cluster: Cluster, window: str) -> None:
    result = cluster.collect("--no-upload", TIME_WINDOW=window)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_a_log_that_goes_silent_is_cut_at_the_deadline(cluster: Cluster, tmp_path: Path) -> None:
    # One line, then nothing for an hour: no chunk arrives to check the time between, the socket is shut.
    cluster.api.set_log(scenarios.NS, "payments-abc", "api",
                        TricklingLog(["Booting payments api", "never sent"], 3600), previous=True)
    out, folder = _run(cluster, tmp_path, "--deadline", "5")
    kept = (folder / "logs/payments-abc/api.previous.log").read_text()
    assert kept.rstrip().endswith("Booting payments api") and "never sent" not in kept
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "logs/payments-abc/api.previous.log")
    assert gap["reason"] == "truncated" and "deadline" in gap["detail"]
    assert "deadline" in out["summary"]

"""Findings quote the lines that prove them, and the rollout diff names the commits on both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster, load_jsonl, unpack

PREVIOUS_SHA = "0" * 39 + "1"


def _collect(cluster: Cluster, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    return folder, json.loads((folder / "findings.json").read_text())["findings"]


def _line(folder: Path, file: str, number: int) -> str:
    return (folder / file).read_bytes().decode().split("\n")[number - 1]  # numbered as sed -n numbers them


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_quote_is_the_line_it_points_at(cluster: Cluster, tmp_path: Path) -> None:
    folder, findings = _collect(cluster, tmp_path)
    quoted = [(f, q) for f in findings for q in f["quotes"]]
    assert {f["kind"] for f, _ in quoted} >= {"probe-failure", "crash-loop", "image-pull", "config-error"}
    for _, quote in quoted:
        line = _line(folder, quote["file"], quote["line"])
        if quote["file"].startswith("logs/"):
            assert line == quote["text"]
        else:  # a JSON line (an event, a pod): the quote is its readable form and says its message
            assert any(len(value) > 20 and value in quote["text"] for value in _strings(json.loads(line)))


def test_a_crash_quotes_its_stack_trace_and_a_probe_its_event_and_access_log(cluster: Cluster,
                                                                            tmp_path: Path) -> None:
    _, findings = _collect(cluster, tmp_path)
    crash = next(f for f in findings if f["kind"] == "crash-loop")
    texts = [q["text"] for q in crash["quotes"]]
    assert texts[0].endswith("Traceback (most recent call last):")
    assert any('File "/app/main.py", line 3' in text for text in texts) and "KeyError" in texts[-1]
    probe = next(f for f in findings if f["kind"] == "probe-failure")
    event, *log = probe["quotes"]
    assert event["file"] == "objects/events.jsonl" and event["time"]
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404 (12 times)" in event["text"]
    assert [q["text"].split(" ", 1)[1] for q in log] == ["GET /healthz 404", "GET /healthz 404"]


def test_rollout_diff_names_the_previous_and_the_current_commit(cluster: Cluster, tmp_path: Path) -> None:
    sets = cluster.api.objects["replicasets"][scenarios.NS]
    for replicaset in sets.values():  # what the Deployment controller copies from the Deployment
        if replicaset["metadata"]["name"].startswith("shop-frontend"):
            revision = replicaset["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            replicaset["metadata"]["annotations"]["pathops.io/source-commit"] = \
                scenarios.SHA if revision == "2" else PREVIOUS_SHA
            replicaset["metadata"]["creationTimestamp"] = f"2026-11-2{revision}T08:00:00Z"
    folder, _ = _collect(cluster, tmp_path)
    diff = next(d for d in load_jsonl(folder / "objects/rollout-diffs.jsonl") if d["deployment"] == "shop-frontend")
    assert (diff["previous_source_commit"], diff["current_source_commit"]) == (PREVIOUS_SHA, scenarios.SHA)
    assert (diff["previous_created"], diff["current_created"]) == ("2026-11-21T08:00:00Z", "2026-11-22T08:00:00Z")
    payments = next(d for d in load_jsonl(folder / "objects/rollout-diffs.jsonl") if d["deployment"] == "payments")
    assert payments["previous_source_commit"] is None  # one ReplicaSet: no previous rollout to blame

"""PAGE_CONTAINERS counts the JSON objects and arrays an answer parses to, not the brackets its strings hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pathops_runtime import kube_reader
from pathops_runtime.kube_reader import containers_in
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running
from tests.evidence_collector.conftest import Cluster, unpack
from tests.evidence_collector.scenarios import NS


def test_brackets_inside_a_string_do_not_leave_the_pods_after_it_unread(cluster: Cluster, tmp_path: Path) -> None:
    # The API takes 256 KiB of annotations a pod: 250,001 `[` in one value parse to one string, not to 250,001
    # lists. Counted as lists, the pod was "past PAGE_CONTAINERS" and every pod listed after it was left unread:
    # anyone who may create a pod could hide the others from the evidence.
    owner = deployment("aaa-notes", NS, {"containers": [container("app", "harbor/notes:1")]})
    rs = replicaset(owner, 1, owner["spec"]["template"]["spec"], replicas=1)
    hostile = pod("aaa-notes-0", rs, [running("app", "harbor/notes:1")], ready=True)
    hostile["metadata"]["annotations"] = {"example.com/note": "[" * 250_001}
    cluster.api.add_all([owner, rs, hostile])
    run = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    names = [json.loads(line)["metadata"]["name"] for line in (folder / "objects/pods.jsonl").read_text().splitlines()]
    listed = sorted(cluster.api.objects["pods"][NS])
    assert sorted(names) == listed
    gaps = json.loads((folder / "manifest.json").read_text())["gaps"]
    assert not [gap for gap in gaps if gap["what"] == "pods"], gaps


def _parsed_containers(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_parsed_containers(item) for item in value.values())
    if isinstance(value, list):
        return 1 + sum(_parsed_containers(item) for item in value)
    return 0


def test_the_objects_and_arrays_counted_are_those_the_answer_parses_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_reader, "PAGE_CONTAINERS", 3)  # every count below is past it: counted exactly
    tricky = ['[{"a": 1}]', '\\"[', '\\\\', '\\\\"', '"{"', "{}[]\n[", "é[ü{", "\\u005b", ""]
    for text in tricky:
        document = {"items": [{"metadata": {"name": "x", "annotations": {"k[": text}}, "spec": {"v": [[], {}]}}],
                    text: [text, {"x": [text]}]}
        body = json.dumps(document).encode()
        assert containers_in(body) == _parsed_containers(json.loads(body)), text
        assert containers_in(json.dumps(document, ensure_ascii=False).encode()) == _parsed_containers(document)
    # A string left open: the rest is not parsed (the answer is not JSON), nor counted.
    assert containers_in(b'{"items": [[], "open \\" [[[[[[[[[[') == 3

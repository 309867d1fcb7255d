"""A person at a terminal sees the collection's phases with counts; a Job's log stays JSON lines only."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import BIN, Cluster, load_jsonl, unpack
from tests.terminal import run_on_a_terminal


def test_phases_with_counts_on_a_terminal_only(cluster: Cluster, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "INCIDENT_ID": "INC-1042", "APP_ID": "shop-frontend",
           "TARGET_NAMESPACE": scenarios.NS, "NO_UPLOAD": "1", "OUTPUT_DIR": str(tmp_path / "out")}
    code, out, shown = run_on_a_terminal([str(BIN / "evidence-collector"), "collect"], env)
    assert code == 0, shown
    root = unpack(tmp_path / "out")
    pods = len(load_jsonl(root / "objects" / "pods.jsonl"))
    logs = len([path for path in (root / "logs").rglob("*") if path.is_file()])
    findings = json.loads(out)["findings"]
    assert pods and logs and findings
    progress = [line for line in shown.splitlines() if line.startswith("evidence-collector: ")]
    assert progress == [
        f"evidence-collector: reading namespace {scenarios.NS} (deadline 300s)",
        f"evidence-collector: read {pods} pods, {logs} container logs; {findings} findings, "
        f"{json.loads(out)['gaps']} gaps",
    ], shown

    piped = cluster.collect(NO_UPLOAD="1", OUTPUT_DIR=str(tmp_path / "piped"))
    assert piped.returncode == 0, piped.stderr
    assert not re.search(r"reading namespace|container logs;", piped.stderr)
    assert all(line.startswith("{") for line in piped.stderr.splitlines())

"""Restart-safe delivery: the same incident over the same cluster state is the same snapshot."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.http_server import BackgroundServer
from tests.evidence_collector.conftest import Cluster, unpack

# When the Job was scheduled: the Job's env carries it, so every restart of the Job has the same.
AS_OF = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
SIGNING_KEY = "k3y-for-the-restart-test"


def _tokens(folder: Path) -> set[str]:
    return set(re.findall(r"\[REDACTED:[a-z0-9-]+:[0-9a-f]{6}\]", (folder / "objects/pods.jsonl").read_text()))


def test_a_restarted_job_announces_the_same_snapshot_with_the_same_key(
        cluster: Cluster, tmp_path: Path, store_settings: Any, artifact_store: Any) -> None:
    receiver = ControlPlaneReceiver(SIGNING_KEY)
    with BackgroundServer(receiver) as server:
        runs = [cluster.collect("--output-dir", str(tmp_path / f"run{n}"), MINIO_ENDPOINT=store_settings.endpoint,
                                MINIO_BUCKET=store_settings.bucket, EVIDENCE_AS_OF=AS_OF,
                                CONTROL_PLANE_CALLBACK_URL=f"{server.url}/api/evidence/callback",
                                CALLBACK_SIGNING_KEY=SIGNING_KEY)
                for n in (1, 2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (json.loads(run.stdout)["snapshot_id"] for run in runs)
    assert first == second
    # Both runs announced it under one Idempotency-Key: the second was answered as a duplicate (200, not
    # refused), and the control plane acted once.
    assert receiver.refused == [] and len(receiver.received) == 1
    assert receiver.received[0].payload["snapshot_id"] == first


def test_tokens_are_stable_per_incident_and_differ_across_incidents(cluster: Cluster, tmp_path: Path) -> None:
    folders = {}
    for run, incident in (("a", "INC-1042"), ("b", "INC-1042"), ("c", "INC-2001")):
        result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / run), INCIDENT_ID=incident,
                                 EVIDENCE_AS_OF=AS_OF, CALLBACK_SIGNING_KEY=SIGNING_KEY)
        assert result.returncode == 0, result.stderr
        folders[run] = unpack(tmp_path / run)
    assert _tokens(folders["a"]) and _tokens(folders["a"]) == _tokens(folders["b"])
    assert not _tokens(folders["a"]) & _tokens(folders["c"])
    ids = {run: next(folder.glob("snap-*.tar.gz")).name for run, folder in folders.items()}
    assert ids["a"] == ids["b"] != ids["c"]

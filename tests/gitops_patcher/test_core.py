"""gitops_patcher.core runs from its settings alone, without click."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_patcher import core
from gitops_patcher.settings import RenderSettings, RunSettings
from pathops_contracts.errors import InvalidInput
from tests.gitops_patcher.conftest import IMAGES
from tests.manifest_checks import load_documents


def _run(tmp_path: Path, agent: str, **extra: str) -> RunSettings:
    return RunSettings(agent=agent, app="shop-frontend", environment="preflight", incident_id="INC-1042",
                       image=IMAGES[agent], time_window="45m", verification_spec_root=tmp_path,
                       read_node_conditions=False, minio_endpoint="https://minio.example.test",
                       minio_bucket="pathops-evidence", control_plane_url="https://pathops.example.test/", **extra)


def test_render_from_settings_writes_the_run_and_points_its_callback_at_the_agents_path(tmp_path: Path) -> None:
    result = core.render(RenderSettings(_run(tmp_path, "evidence-collector", workload="deployment/shop-frontend"),
                                        tmp_path / "out"))
    folder = Path(result.path)
    assert folder.parent == tmp_path / "out" and sorted(p.name for p in folder.iterdir()) == result.files
    (job,) = [d for name in result.files for d in load_documents(folder / name) if d.get("kind") == "Job"]
    env = {e["name"]: e.get("value") for c in job["spec"]["template"]["spec"]["containers"] for e in c["env"]}
    assert env["CONTROL_PLANE_CALLBACK_URL"] == "https://pathops.example.test/api/evidence/callback"
    assert env["WORKLOAD"] == "deployment/shop-frontend" and env["TIME_WINDOW"] == "45m"


def test_a_fix_agent_run_without_a_snapshot_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--snapshot-id"):
        core.render(RenderSettings(_run(tmp_path, "fix-agent"), tmp_path / "out"))
    assert not (tmp_path / "out").exists()

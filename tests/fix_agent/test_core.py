"""fix_agent.core runs from its settings alone, without click: what a test or another caller would do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fix_agent import core
from fix_agent.llm import LlmSettings
from fix_agent.settings import ImageSettings, RunSettings
from pathops_contracts.bundles import read_member
from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_runtime.callbacks import CallbackSettings
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, snapshot_dir, source_tree
from tests.fix_agent.test_cli import SHA, upload_snapshot


def test_run_from_settings_stores_the_bundle_then_calls_back(tmp_path: Path, artifact_store: ArtifactStore,
                                                             store_settings: StoreSettings,
                                                             httpserver: HTTPServer) -> None:
    snapshot_dir(tmp_path / "snap", [scenarios.probe_finding()], SERVED_LOG)
    snapshot_id = upload_snapshot(artifact_store, tmp_path / "snap", tmp_path / "snap.tar.gz")
    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        artifact_store.get(body["patch_id"], tmp_path / "announced.tar.gz")  # stored before it is announced
        received.append(body)
        return Response("{}", status=202)

    httpserver.expect_request("/api/fix/callback").respond_with_handler(handler)
    settings = RunSettings(snapshot_id=snapshot_id, source_dir=source_tree(tmp_path / "source", "plain"),
                           source_commit_sha=SHA, callback_url=httpserver.url_for("/api/fix/callback"),
                           inline_max_bytes=0, store=store_settings, callbacks=CallbackSettings(deadline_seconds=5),
                           output_dir=tmp_path / "out", scratch_dir=tmp_path / "scratch")
    delivery = core.run(settings)
    assert delivery.status == "patch" and delivery.files_touched == ["deploy/deployment.yaml"]
    (callback,) = received
    assert callback["patch_id"] == delivery.patch_id and callback["status"] == "patch"
    assert callback["pointers"]["bundle"] == delivery.bundle
    kept = tmp_path / "out" / f"{delivery.patch_id}.tar.gz"
    assert read_member(kept, "patch.mbox") == read_member(tmp_path / "announced.tar.gz", "patch.mbox")
    assert list((tmp_path / "scratch").iterdir()) == []  # the work tree goes with the run


def test_settings_never_show_a_credential(tmp_path: Path, store_settings: StoreSettings) -> None:
    run = RunSettings(snapshot_id="snap-" + "0" * 32, source_dir=tmp_path, source_commit_sha=SHA,
                      callback_url="https://pathops.example.test/api/fix/callback", inline_max_bytes=0,
                      store=store_settings,
                      callbacks=CallbackSettings(signing_key="signing-credential", token="control-plane-credential"),
                      llm=LlmSettings("https://llm.example.test/v1", "sk-run-credential", "gpt-4o-mini"))
    image = ImageSettings(app="shop-frontend", source_repo="https://gitlab.example.test/shop/shop-frontend.git",
                          source_commit_sha=SHA, runtime_image="harbor.example.test/pathops/fix-agent:0.1.0",
                          harbor_repo="harbor.example.test/pathops/agents", builder="buildah",
                          registry_tls_verify=True, force=False, max_source_bytes=1024,
                          gitlab_token="glpat-image-credential", registry_username="robot",
                          registry_password="registry-credential")
    shown = repr(run) + repr(image)
    assert "gpt-4o-mini" in shown and "robot" in shown
    assert not any(secret in shown for secret in ("sk-run-credential", "glpat-image-credential",
                                                  "registry-credential", "signing-credential",
                                                  "control-plane-credential"))

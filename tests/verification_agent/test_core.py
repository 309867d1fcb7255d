"""verification_agent.core runs from its settings alone: the outcome comes back, the exit code is the CLI's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_runtime.callbacks import CallbackSettings
from pathops_testbed.http_server import BackgroundServer
from tests.verification_agent.test_cli import app
from verification_agent import core
from verification_agent.settings import VerifySettings


def test_a_failed_verification_is_returned_stored_and_announced(tmp_path: Path, artifact_store: ArtifactStore,
                                                                 store_settings: StoreSettings,
                                                                 httpserver: HTTPServer) -> None:
    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("{}", status=202)

    httpserver.expect_request("/api/verification/callback").respond_with_handler(handler)
    secret = "preflight-token-0123456789"
    with BackgroundServer(app) as server:
        spec = tmp_path / "spec.yaml"
        # A check named after a credential (a spec is the patch author's text): masked like any secret.
        spec.write_text(f"checks:\n  - name: health-{secret}\n    type: http\n    url: {server.url}/down\n"
                        "    count: 2\n    interval: 10ms\n")
        outcome = core.run(VerifySettings(
            app_id="shop-frontend", environment="preflight", verification_id="VER-8", spec=spec,
            callback_url=httpserver.url_for("/api/verification/callback"), store=store_settings,
            callbacks=CallbackSettings(deadline_seconds=5), no_kubernetes=True,
            process_environment={"PREFLIGHT_API_TOKEN": secret}))
    assert outcome.status == "failed" and list(outcome.as_json()["checks"].values()) == ["failed"]
    (callback,) = received
    assert callback["status"] == "failed" and callback["report_id"] == outcome.report_id
    artifact_store.get(outcome.report_id, tmp_path / "report.json")
    text = (tmp_path / "report.json").read_text()
    report = json.loads(text)
    assert report["target_namespace"] == "shop-frontend-preflight" and report["verification_id"] == "VER-8"
    assert secret not in text and report["checks"][0]["name"].startswith("health-")

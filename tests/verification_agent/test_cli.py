"""verification-agent verify end to end: spec errors, report and JUnit in S3, callback, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_contracts.contracts import VERIFICATION_REPORT, validate_document
from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_testbed.http_server import BackgroundServer
from tests.pathops_runtime.log_lines import delivered
from tests.terminal import run_on_a_terminal


def environment(spec: Path, store: StoreSettings, callback: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "APP_ID": "shop-frontend", "VERIFICATION_ID": "VER-7", "VERIFICATION_SPEC": str(spec),
            "MINIO_ENDPOINT": store.endpoint, "MINIO_BUCKET": store.bucket, "CONTROL_PLANE_CALLBACK_URL": callback,
            "OUTPUT_DIR": str(tmp_path / "out"), "NO_KUBERNETES": "1", **extra}


AGENT = str(Path(sys.executable).parent / "verification-agent")


def run(spec: Path, store: StoreSettings, callback: str, tmp_path: Path,
        **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENT, "verify"], env=environment(spec, store, callback, tmp_path, **extra),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> tuple[str, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("{}", status=202)

    httpserver.expect_request("/api/verification/callback").respond_with_handler(handler)
    return httpserver.url_for("/api/verification/callback"), received


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = Request(environ).path
    return Response("ok" if path == "/health" else "no", status=200 if path == "/health" else 503)(
        environ, start_response)


@pytest.mark.parametrize(("path", "status", "code"), [("/health", "passed", 0), ("/down", "failed", 3)])
def test_outcome_report_junit_and_callback(tmp_path: Path, artifact_store: ArtifactStore,
                                           store_settings: StoreSettings, receiver: tuple[str, list[dict[str, Any]]],
                                           path: str, status: str, code: int) -> None:
    url, received = receiver
    with BackgroundServer(app) as server:
        spec = tmp_path / "spec.yaml"
        spec.write_text(f"checks:\n  - name: health\n    type: http\n    url: {server.url}{path}\n"
                        "    count: 3\n    interval: 10ms\n")
        result = run(spec, store_settings, url, tmp_path)
    assert result.returncode == code, result.stderr
    out = json.loads(result.stdout)
    (callback,) = received
    assert callback["status"] == status and callback["report_id"] == out["report_id"]
    report_path = tmp_path / "fetched.json"
    artifact_store.get(out["report_id"], report_path)
    report = json.loads(report_path.read_text())
    validate_document(report, VERIFICATION_REPORT)
    assert report["status"] == status and report["checks"][0]["attempts"] == 3
    junit = tmp_path / "fetched.junit.xml"
    artifact_store.get(out["report_id"], junit, suffix=".junit.xml")
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == ("1" if status == "failed" else "0")
    # Through the shared deliver: report (JUnit beside it) stored, then the one callback.
    assert delivered(result.stderr) == [{"artifact_id": out["report_id"], "uploaded": True, "callbacks": 1}]


def test_a_terminal_sees_each_check_and_round_and_a_job_log_does_not(
        tmp_path: Path, store_settings: StoreSettings, artifact_store: ArtifactStore,
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = receiver
    with BackgroundServer(app) as server:
        spec = tmp_path / "spec.yaml"
        spec.write_text(f"checks:\n  - name: health\n    type: http\n    url: {server.url}/health\n"
                        "    count: 3\n    interval: 10ms\n"
                        f"  - name: down\n    type: http\n    url: {server.url}/down\n")
        code, out, shown = run_on_a_terminal([AGENT, "verify"], environment(spec, store_settings, url, tmp_path))
        piped = run(spec, store_settings, url, tmp_path)
    assert code == piped.returncode == 3, shown
    assert json.loads(out)["status"] == "failed"
    progress = [line for line in shown.splitlines() if line.startswith("verification-agent: ")]
    assert progress[:8] == [
        "verification-agent: check 1/2: health (http)",
        "verification-agent: health: round 1/3: passed",
        "verification-agent: health: round 2/3: passed",
        "verification-agent: health: round 3/3: passed",
        "verification-agent: check 1/2: health: passed",
        "verification-agent: check 2/2: down (http)",
        "verification-agent: down: round 1/1: failed",
        "verification-agent: check 2/2: down: failed",
    ], shown
    # Where stderr is no terminal (a Job), it holds the JSON log lines and nothing else.
    assert "round" not in piped.stderr
    assert all(json.loads(line) for line in piped.stderr.splitlines() if line.startswith("{"))


def test_inconclusive_exit_7(tmp_path: Path, store_settings: StoreSettings, artifact_store: ArtifactStore,
                             receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    spec = tmp_path / "spec.yaml"
    spec.write_text("checks:\n  - name: rollout\n    type: rollout\n    workload: deployment/shop-frontend\n")
    result = run(spec, store_settings, url, tmp_path)
    assert result.returncode == 7, result.stderr
    assert received[0]["status"] == "inconclusive"
    assert ET.parse(tmp_path / "out" / "junit.xml").getroot().get("skipped") == "1"


@pytest.mark.parametrize(("spec", "message"), [
    ("checks:\n  - name: x\n    type: chaos\n", "unknown check type 'chaos'"),
    ("checks:\n  - name: x\n    type: http\n    url: http://a/\n    interval: 5 minutes\n", "checks/0/interval"),
    ("checks: []\n", "checks"),
    ("checks:\n  - name: x\n    type: prometheus\n    query: up\n    successCondition: __import__('os')\n",
     "successCondition"),
    ("checks: [unclosed\n", "verification spec"),
])
def test_bad_specs_exit_2_with_a_clear_message(tmp_path: Path, store_settings: StoreSettings, spec: str,
                                               message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    result = run(path, store_settings, "http://127.0.0.1:9/cb", tmp_path)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("verification-agent: error: verification spec") and message in last


def test_the_demo_apps_spec_is_valid() -> None:
    from verification_agent.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "examples/shop-frontend/deploy/verification.yaml")
    assert [c["type"] for c in spec["checks"]] == ["rollout", "http", "restarts", "prometheus"]


SIGNING_KEY = "callback-signing-key-0123456789abcdef"
# What an attacker's job check does once the environment is taken away: read the agent's own.
STEAL = ("import os; e = dict(l.split('=', 1) for l in open(f'/proc/{os.getppid()}/environ').read().split(chr(0)) "
         "if '=' in l); print('stolen', e.get('CALLBACK_SIGNING_KEY'), e.get('AWS_SECRET_ACCESS_KEY'))")


def job_spec(tmp_path: Path, code: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"checks": [{"name": "smoke", "type": "job", "command": ["python3", "-c", code]}]}))
    return spec


def test_a_job_check_is_refused_unless_the_operator_allows_its_command(
        tmp_path: Path, store_settings: StoreSettings, artifact_store: ArtifactStore,
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    marker = tmp_path / "ran"
    result = run(job_spec(tmp_path, f"open({str(marker)!r}, 'w')"), store_settings, url, tmp_path)
    assert result.returncode == 7, result.stderr
    assert not marker.exists()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "'python3' is not an allowed job command" in report["checks"][0]["message"]
    assert received[0]["status"] == "inconclusive"


def test_a_job_check_gets_no_credentials_and_its_output_is_masked_before_upload(
        tmp_path: Path, store_settings: StoreSettings, artifact_store: ArtifactStore,
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    environment = "import os; print('env', sorted(os.environ)); " + STEAL
    result = run(job_spec(tmp_path, environment), store_settings, url, tmp_path,
                 CALLBACK_SIGNING_KEY=SIGNING_KEY, VERIFICATION_JOB_COMMANDS="python3 /opt/smoke")
    assert result.returncode == 0, result.stderr
    fetched = tmp_path / "fetched.json"
    artifact_store.get(json.loads(result.stdout)["report_id"], fetched)
    junit = tmp_path / "fetched.junit.xml"
    artifact_store.get(json.loads(result.stdout)["report_id"], junit, suffix=".junit.xml")
    message = json.loads(fetched.read_text())["checks"][0]["message"]
    assert "env ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']" in message  # nothing of the agent's environment
    assert "stolen **** ****" in message  # what it read from /proc anyway was masked
    for text in (fetched.read_text(), junit.read_text(), result.stdout, result.stderr,
                 (tmp_path / "out" / "report.json").read_text(), json.dumps(received)):
        assert SIGNING_KEY not in text and "pathops-test-secret" not in text


def test_a_report_that_still_holds_a_secret_is_not_uploaded(
        tmp_path: Path, store_settings: StoreSettings, artifact_store: ArtifactStore,
        receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    # A token equal to the target namespace: the report must name the namespace, so masking cannot help.
    result = run(job_spec(tmp_path, "print(1)"), store_settings, url, tmp_path,
                 CONTROL_PLANE_TOKEN="shop-frontend-preflight", VERIFICATION_JOB_COMMANDS="python3")
    assert result.returncode == 4, result.stderr
    assert "still holds a known secret value after masking; nothing was uploaded" in result.stderr
    assert received == [] and not (tmp_path / "out").exists()
    assert artifact_store._client.list_objects_v2(Bucket=store_settings.bucket).get("KeyCount") == 0

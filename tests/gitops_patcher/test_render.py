"""Rendered manifests: valid, least-privilege, and never built from injected text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_patcher.namespace import Destination, Egress, render_namespace
from tests.gitops_patcher.conftest import IMAGES, agent_args, patcher
from tests.manifest_checks import kustomize, load_documents, run_checkov, validate_schemas

AGENTS = ["evidence-collector", "fix-agent", "verification-agent"]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}

EGRESS = Egress(control_plane=Destination.parse("10.40.0.7/32:8443"), kube_api=Destination.parse("10.43.0.1/32:443"),
                llm=Destination.parse("10.50.0.9/32:443"))


def render(tmp_path: Path, agent: str, *extra: str) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    result = patcher("render", *agent_args(agent), "--output-dir", str(tmp_path / "out"), *extra)
    assert result.returncode == 0, result.stderr
    folder = Path(json.loads(result.stdout)["path"])
    return folder, {p.name: load_documents(p) for p in folder.glob("*.yaml")}


@pytest.fixture(scope="module")
def all_rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    for agent in AGENTS:
        extra = ["--read-node-conditions"] if agent == "evidence-collector" else []
        result = patcher("render", *agent_args(agent), "--output-dir", str(root), *extra)
        assert result.returncode == 0, result.stderr
    # In Git, runs sit beside the agents namespace and its NetworkPolicies: scan them together.
    namespace = root / "namespace"
    namespace.mkdir()
    for name, text in render_namespace("shop-frontend", "shop-frontend-agents", "shop-frontend-preflight",
                                       EGRESS).items():
        (namespace / name).write_text(text)
    return root


def test_every_manifest_passes_the_official_schemas_strictly(all_rendered: Path) -> None:
    assert validate_schemas(all_rendered) >= 19


def test_checkov_has_zero_failed_checks(all_rendered: Path) -> None:
    summary = run_checkov(all_rendered)
    assert summary["failed"] == 0, summary["failed_checks"]
    assert summary["passed"] > 100
    # The only skips are the documented ones: token for API readers, secretKeyRef env.
    assert summary["skipped"] == 5


def test_kustomize_builds_each_run(all_rendered: Path) -> None:
    for run in all_rendered.iterdir():
        kinds = {o["kind"] for o in kustomize(run)}
        assert kinds >= ({"Namespace", "NetworkPolicy"} if run.name == "namespace" else {"Job", "ServiceAccount"})


def test_the_templates_themselves_build_and_validate() -> None:
    templates = Path(__file__).resolve().parents[2] / "gitops-templates"
    objects = kustomize(templates)
    assert len(objects) == 17
    assert validate_schemas(templates / "evidence-collector") == 6


def test_collector_rbac_is_read_only_in_the_target_namespace(tmp_path: Path) -> None:
    _, files = render(tmp_path, "evidence-collector")
    (role,) = files["role.yaml"]
    (binding,) = files["rolebinding.yaml"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "shop-frontend-preflight"
    for rule in role["rules"]:
        assert set(rule["verbs"]) == {"get", "list", "watch"}
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "secrets" not in rule["resources"]
        assert not {"pods/exec", "pods/attach", "pods/portforward", "pods/proxy"} & set(rule["resources"])
    granted = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"pods", "pods/log", "events", "replicasets", "deployments", "endpointslices",
            "horizontalpodautoscalers", "poddisruptionbudgets", "resourcequotas", "limitranges"} <= granted
    (subject,) = binding["subjects"]
    (account,) = files["serviceaccount.yaml"]
    assert subject == {"kind": "ServiceAccount", "name": account["metadata"]["name"],
                       "namespace": "shop-frontend-agents"}
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert "clusterrole-nodes.yaml" not in files  # only on request


def test_node_conditions_come_as_a_separate_read_only_cluster_role(tmp_path: Path) -> None:
    _, files = render(tmp_path, "evidence-collector", "--read-node-conditions")
    cluster_role, cluster_binding = files["clusterrole-nodes.yaml"]
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    assert cluster_binding["subjects"][0]["namespace"] == "shop-frontend-agents"


def test_fix_agent_mounts_no_token_and_has_no_rbac(tmp_path: Path) -> None:
    _, files = render(tmp_path, "fix-agent")
    assert set(files) == {"serviceaccount.yaml", "job.yaml", "kustomization.yaml"}
    (account,) = files["serviceaccount.yaml"]
    (job,) = files["job.yaml"]
    assert account["automountServiceAccountToken"] is False
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES["fix-agent"]


def test_verifier_reads_preflight_only(tmp_path: Path) -> None:
    _, files = render(tmp_path, "verification-agent")
    (role,) = files["role.yaml"]
    assert role["metadata"]["namespace"] == "shop-frontend-preflight"
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])
    (config,) = files["configmap.yaml"]
    assert "type: http" in config["data"]["spec.yaml"]
    result = patcher("render", *agent_args("verification-agent"), "--env", "production",
                     "--output-dir", str(tmp_path / "prod"))
    assert result.returncode == 2 and "preflight only" in result.stderr


def _env(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize(
    ("agent", "seed_env"),
    [
        ("evidence-collector", {"INCIDENT_ID", "APP_ID", "TARGET_NAMESPACE", "TIME_WINDOW", "WORKLOAD",
                                "EVIDENCE_AS_OF"}),
        ("fix-agent", {"SNAPSHOT_ID"}),
        ("verification-agent", {"APP_ID", "ENV", "VERIFICATION_ID", "TARGET_NAMESPACE", "VERIFICATION_SPEC",
                                "EXPECTED_COMMIT_SHA"}),
    ],
)
def test_job_env_is_the_seed_list_and_secrets_come_by_reference(tmp_path: Path, agent: str, seed_env: set[str]) -> None:
    _, files = render(tmp_path, agent)
    (job,) = files["job.yaml"]
    env = _env(job)
    common = {"MINIO_ENDPOINT", "MINIO_BUCKET", "CONTROL_PLANE_CALLBACK_URL", "SCRATCH_DIR", "TMPDIR"}
    secrets = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CALLBACK_SIGNING_KEY"} | (
        {"OPENAI_API_KEY"} if agent == "fix-agent" else set())
    assert set(env) == seed_env | common | secrets
    for name in secrets:
        assert set(env[name]) == {"secretKeyRef"}
    assert env["MINIO_BUCKET"] == "pathops-evidence"
    if agent == "evidence-collector":  # a retried Job collects the window it was scheduled for
        assert env["EVIDENCE_AS_OF"] == job["metadata"]["annotations"]["pathops.io/scheduled-at"]
    assert env["CONTROL_PLANE_CALLBACK_URL"].startswith("https://control-plane.pathops.example/api/")
    assert env["MINIO_ENDPOINT"] == "https://minio.pathops.example"
    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert pod["restartPolicy"] == "Never" and spec["backoffLimit"] >= 0 and spec["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in spec
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "runAsUser": 10001, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
    labels = job["metadata"]["labels"]
    assert labels["pathops.io/incident-id"] == "INC-1042" and labels["pathops.io/agent"] == agent
    assert labels["app.kubernetes.io/instance"] == job["metadata"]["name"]


def test_run_names_are_unique_per_run_and_stable_per_input(tmp_path: Path) -> None:
    first, _ = render(tmp_path / "a", "evidence-collector")
    again, _ = render(tmp_path / "b", "evidence-collector")
    other = patcher("render", *agent_args("evidence-collector", "INC-1043"), "--output-dir", str(tmp_path / "c"))
    assert first.name == again.name
    assert json.loads(other.stdout)["run"] != first.name
    assert len(first.name) <= 63


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--incident-id", 'INC-1"; rm -rf /'), ("--incident-id", "I" * 300), ("--app", "Shop_Frontend"),
     ("--image", "evil image:latest"), ("--time-window", "30m; curl x"), ("--workload", "deployment/../x"),
     ("--minio-endpoint", "https://minio'/x")],
)
def test_injected_values_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    args = agent_args("evidence-collector")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    result = patcher("render", *args, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()


def test_env_vars_and_flags_are_equivalent(tmp_path: Path) -> None:
    by_env = patcher("render", "--output-dir", str(tmp_path / "env"), AGENT="fix-agent", APP_ID="shop-frontend",
                     INCIDENT_ID="INC-1042", AGENT_IMAGE=IMAGES["fix-agent"], SNAPSHOT_ID="snap-" + "ab" * 16)
    by_flags = patcher("render", *agent_args("fix-agent"), "--output-dir", str(tmp_path / "flags"))
    assert by_env.returncode == by_flags.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["run"] == json.loads(by_flags.stdout)["run"]


@pytest.mark.parametrize(("flag", "value"), [
    ("--time-window", "99999999999999999999d"), ("--time-window", "0001-01-01T00:00:00Z/0001-01-02T00:00:00Z"),
    ("--alert-starts-at", "0001-01-01T00:00:00Z"),
])
def test_absurd_windows_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    result = patcher("render", *agent_args("evidence-collector"), flag, value, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "is not valid" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("incident", ["yes", "on", "NO", "off", "null", "1e3", "017", "0x1F", "12_0"])
def test_incident_ids_stay_strings_for_yaml_1_1_readers(tmp_path: Path, incident: str) -> None:
    """Argo CD reads YAML 1.1, where an unquoted `yes` is a boolean and `017` an octal number."""
    yaml = pytest.importorskip("yaml")  # PyYAML: a YAML 1.1 loader
    for agent in AGENTS:
        result = patcher("render", *agent_args(agent, incident), "--app", "on",
                         "--output-dir", str(tmp_path / agent))
        assert result.returncode == 0, result.stderr
        folder = Path(json.loads(result.stdout)["path"])
        jobs = [doc for doc in yaml.safe_load_all((folder / "job.yaml").read_text())]
        env = {e["name"]: e.get("value") for e in jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
        if agent == "evidence-collector":
            assert env["INCIDENT_ID"] == incident and env["APP_ID"] == "on"
        for path in folder.glob("*.yaml"):
            for document in yaml.safe_load_all(path.read_text()):
                labels = document.get("metadata", {}).get("labels", {})
                if "pathops.io/incident-id" in labels:
                    assert labels["pathops.io/incident-id"] == incident and labels["pathops.io/app"] == "on"
    namespace = render_namespace("on", "on-agents", "on-preflight", EGRESS)
    for text in namespace.values():
        for document in yaml.safe_load_all(text):
            assert all(isinstance(v, str) for v in document.get("metadata", {}).get("labels", {}).values())


def test_a_verification_run_is_named_and_labelled_by_its_own_id(tmp_path: Path) -> None:
    args = [arg for arg in agent_args("verification-agent") if arg not in ("--incident-id", "INC-1042")]
    result = patcher("render", *args, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    folder = Path(json.loads(result.stdout)["path"])
    (job,) = load_documents(folder / "job.yaml")
    assert job["metadata"]["name"].startswith("verify-ver-7-")
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["pathops.io/verification-id"] == "VER-7" and "pathops.io/incident-id" not in labels
    # With the incident its change answers, both: never one id standing in for the other.
    _, documents = render(tmp_path / "with-incident", "verification-agent")
    labels = documents["job.yaml"][0]["metadata"]["labels"]
    assert (labels["pathops.io/incident-id"], labels["pathops.io/verification-id"]) == ("INC-1042", "VER-7")


@pytest.mark.parametrize("agent", ["evidence-collector", "fix-agent"])
def test_an_incident_agent_without_an_incident_id_is_exit_2(tmp_path: Path, agent: str) -> None:
    args = [arg for arg in agent_args(agent) if arg not in ("--incident-id", "INC-1042")]
    result = patcher("render", *args, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"gitops-patcher: error: {agent} needs --incident-id (INCIDENT_ID)"
    assert not (tmp_path / "out").exists()


def test_no_template_value_survives_in_a_rendered_run(all_rendered: Path) -> None:
    # The templates' placeholders (*.example.invalid) are always replaced by the run's own endpoints.
    texts = [path.read_text() for path in all_rendered.rglob("*.yaml")]
    assert texts and not [text for text in texts if "example.invalid" in text or "demo.pathops.io/api" in text]

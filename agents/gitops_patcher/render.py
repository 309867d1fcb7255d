"""Render one agent run's manifests from gitops-templates/: a pure function of its inputs.

Templates are loaded with ruamel.yaml (comments and order kept) and values are set on
the loaded objects; nothing is pasted into YAML text. Every object of a run is named
after the run, so a run's Job, ServiceAccount and RBAC come and go together.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from pathops_contracts.errors import InvalidInput


@dataclass(frozen=True)
class AgentKind:
    name: str
    short: str
    files: tuple[str, ...]
    token: bool  # whether the Job mounts a ServiceAccount token (it reads the Kubernetes API)
    required_env: tuple[str, ...]
    optional_env: tuple[str, ...] = ()


AGENTS: dict[str, AgentKind] = {
    "evidence-collector": AgentKind(
        "evidence-collector", "evidence", ("serviceaccount.yaml", "role.yaml", "rolebinding.yaml", "job.yaml"), True,
        ("INCIDENT_ID", "APP_ID", "TARGET_NAMESPACE", "TIME_WINDOW"),
        ("WORKLOAD", "LABEL_SELECTOR", "ALERT_STARTS_AT", "EVIDENCE_AS_OF"),
    ),
    "fix-agent": AgentKind("fix-agent", "fix", ("serviceaccount.yaml", "job.yaml"), False, ("SNAPSHOT_ID",)),
    "verification-agent": AgentKind(
        "verification-agent", "verify",
        ("serviceaccount.yaml", "role.yaml", "rolebinding.yaml", "configmap.yaml", "job.yaml"), True,
        ("APP_ID", "ENV", "VERIFICATION_ID", "TARGET_NAMESPACE", "VERIFICATION_SPEC"),
        ("EXPECTED_COMMIT_SHA",),
    ),
}

SCHEDULED_AT = "pathops.io/scheduled-at"
RUN_ID = "pathops.io/run-id"


@dataclass(frozen=True)
class AgentRun:
    """Everything that defines one run; equal runs render to the same name."""

    agent: str
    app: str
    env: str
    incident_id: str | None  # a verification run may answer no incident: it has its own id
    image: str
    agents_namespace: str
    target_namespace: str
    minio_endpoint: str
    minio_bucket: str
    callback_url: str
    agent_env: tuple[tuple[str, str], ...] = ()
    verification_spec: str | None = None
    read_node_conditions: bool = False

    @property
    def kind(self) -> AgentKind:
        return AGENTS[self.agent]

    @property
    def run_id(self) -> str:
        identity = json.dumps(
            dict(self.__dict__), sort_keys=True
        ).encode()
        return hashlib.sha256(identity).hexdigest()[:10]

    @property
    def subject(self) -> str:
        """What the run is for: its incident, else (a verification run) its verification id."""
        return self.incident_id or dict(self.agent_env).get("VERIFICATION_ID", "")

    @property
    def name(self) -> str:
        """`<short agent>-<subject>-<run id>`: unique per run, a valid DNS label under 63 characters."""
        incident = re.sub(r"[^a-z0-9-]+", "-", self.subject.lower()).strip("-")[:30].strip("-")
        return f"{self.kind.short}-{incident}-{self.run_id}"


@dataclass
class RenderedRun:
    name: str
    files: dict[str, str] = field(default_factory=dict)


def templates_root() -> Path:
    return Path(str(resources.files("gitops_patcher") / "templates"))


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


_YAML_1_1 = VersionedResolver(version=(1, 1))
_STR = "tag:yaml.org,2002:str"


def _quote_for_yaml_1_1(value: Any) -> Any:
    """Quote every string that a YAML 1.1 reader (Argo CD, PyYAML) would take for a bool, number or null.

    ruamel writes YAML 1.2, where `yes`, `on` or `NO` are plain strings; in YAML 1.1 they are
    booleans, so an incident id `yes` would turn a label value into `true`.
    """
    if isinstance(value, CommentedMap):
        for key in list(value):
            value[key] = _quote_for_yaml_1_1(value[key])
    elif isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            value[index] = _quote_for_yaml_1_1(item)
    elif isinstance(value, str) and type(value) is str and \
            _YAML_1_1.resolve(ScalarNode, value, (True, False)) != _STR:
        return DoubleQuotedScalarString(value)
    return value


def _dump(documents: list[Any]) -> str:
    buffer = io.StringIO()
    _yaml().dump_all([_quote_for_yaml_1_1(document) for document in documents], buffer)
    return buffer.getvalue()


def _load(path: Path) -> list[CommentedMap]:
    return [doc for doc in _yaml().load_all(path.read_text(encoding="utf-8")) if doc is not None]


def render_run(run: AgentRun, scheduled_at: str, root: Path | None = None) -> RenderedRun:
    """The manifests of one run, file name -> YAML text, plus its kustomization.yaml."""
    folder = (root or templates_root()) / run.agent
    rendered = RenderedRun(run.name)
    files = list(run.kind.files)
    if run.agent == "evidence-collector" and run.read_node_conditions:
        files.append("clusterrole-nodes.yaml")
    for file_name in files:
        documents = _load(folder / file_name)
        for document in documents:
            _render_object(document, run, scheduled_at)
        rendered.files[file_name] = _dump(documents)
    kustomization = CommentedMap(
        [("apiVersion", "kustomize.config.k8s.io/v1beta1"), ("kind", "Kustomization"),
         ("resources", CommentedSeq(files))]
    )
    rendered.files["kustomization.yaml"] = _dump([kustomization])
    return rendered


def _labels(run: AgentRun) -> dict[str, str]:
    ids = {"pathops.io/incident-id": run.incident_id,
           "pathops.io/verification-id": dict(run.agent_env).get("VERIFICATION_ID")}
    return {
        "app.kubernetes.io/instance": run.name,
        "pathops.io/agent": run.agent,
        "pathops.io/app": run.app,
        **{label: value for label, value in ids.items() if value},
    }


def _render_object(document: CommentedMap, run: AgentRun, scheduled_at: str) -> None:
    kind = document["kind"]
    metadata = document["metadata"]
    cluster_scoped = kind in {"ClusterRole", "ClusterRoleBinding"}
    metadata["name"] = f"pathops-{run.name}-nodes" if cluster_scoped else run.name
    if kind in {"Role", "RoleBinding"}:
        metadata["namespace"] = run.target_namespace
    elif not cluster_scoped:
        metadata["namespace"] = run.agents_namespace
    metadata["labels"].update(_labels(run))
    if kind in {"RoleBinding", "ClusterRoleBinding"}:
        document["roleRef"]["name"] = metadata["name"]
        for subject in document["subjects"]:
            subject["name"] = run.name
            subject["namespace"] = run.agents_namespace
    elif kind == "ConfigMap" and run.verification_spec is not None:
        document["data"]["spec.yaml"] = run.verification_spec
    elif kind == "Job":
        _render_job(document, run, scheduled_at)


def _render_job(job: CommentedMap, run: AgentRun, scheduled_at: str) -> None:
    annotations = job["metadata"].setdefault("annotations", CommentedMap())
    annotations[SCHEDULED_AT] = scheduled_at
    annotations[RUN_ID] = run.run_id
    pod = job["spec"]["template"]
    pod["metadata"]["labels"].update(_labels(run))
    spec = pod["spec"]
    spec["serviceAccountName"] = run.name
    spec["automountServiceAccountToken"] = run.kind.token
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = run.name
    container = spec["containers"][0]
    container["image"] = run.image
    values = dict(run.agent_env)
    values.update(
        {"MINIO_ENDPOINT": run.minio_endpoint, "MINIO_BUCKET": run.minio_bucket,
         "CONTROL_PLANE_CALLBACK_URL": run.callback_url}
    )
    if run.agent == "evidence-collector":
        # A duration window ends when the Job was scheduled, not when a pod of it starts: every retry
        # of the Job collects the same window, so it writes and announces the same snapshot.
        values["EVIDENCE_AS_OF"] = scheduled_at
    missing = [name for name in run.kind.required_env if name not in values]
    if missing:
        raise InvalidInput(f"{run.agent} needs {', '.join(missing)}")
    unknown = set(values) - set(run.kind.required_env) - set(run.kind.optional_env) - {
        "MINIO_ENDPOINT", "MINIO_BUCKET", "CONTROL_PLANE_CALLBACK_URL"}
    if unknown:
        raise InvalidInput(f"{run.agent} takes no {', '.join(sorted(unknown))}")
    env: CommentedSeq = container["env"]
    for entry in _literal_env(env):
        if entry["name"] in values:
            entry["value"] = values.pop(entry["name"])
    # Optional variables the template does not carry go before the scratch settings.
    position = next(i for i, entry in enumerate(env) if entry["name"] == "SCRATCH_DIR")
    for offset, name in enumerate(name for name in run.kind.optional_env if name in values):
        env.insert(position + offset, CommentedMap([("name", name), ("value", values[name])]))


def _literal_env(env: CommentedSeq) -> Iterator[CommentedMap]:
    return (entry for entry in env if "value" in entry)

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from pathops_contracts.agent_job import AgentJob, JobEnv, RoleRule, load_agent_job
from pathops_contracts.errors import InvalidInput

# Every Job template carries these scratch settings (an emptyDir at /scratch); they are the same
# for every run, so they are no part of a run's identity.
SCRATCH_SETTINGS = frozenset({"SCRATCH_DIR", "TMPDIR"})
# The run's own fields carry these options' values (AgentRun.minio_endpoint, .minio_bucket).
STORE_OPTIONS = {"--minio-endpoint": "minio_endpoint", "--minio-bucket": "minio_bucket"}


def agent_env(job: AgentJob, options: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """The agent's own variables of one run, in the Job's order: the description's run values
    (looked up by their gitops-patcher option) and its agent-specific fixed values."""
    pairs: list[tuple[str, str]] = []
    for variable in job.job_env:
        if variable.source == "run" and variable.option not in STORE_OPTIONS:
            value = options.get(str(variable.option))
        elif variable.source == "fixed" and variable.name not in SCRATCH_SETTINGS:
            value = variable.value
        else:
            continue
        if value is not None:
            pairs.append((variable.name, value))
    return tuple(pairs)


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
    def job(self) -> AgentJob:
        return load_agent_job(self.agent)

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
        return f"{self.job.run_prefix}-{incident}-{self.run_id}"


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
    job = run.job
    folder = (root or templates_root()) / job.template
    rendered = RenderedRun(run.name)
    files = list(job.files)
    if run.read_node_conditions:
        if not job.node_condition_rules:
            raise InvalidInput(f"{run.agent} reads no node conditions")
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
        if run.job.role_namespace != "target":
            raise InvalidInput(f"{run.agent} has no Role, yet its template carries a {kind}")
        metadata["namespace"] = run.target_namespace
    elif not cluster_scoped:
        metadata["namespace"] = run.agents_namespace
    metadata["labels"].update(_labels(run))
    if kind == "Role":
        document["rules"] = _role_rules(run.job.role_rules)
    elif kind == "ClusterRole":
        document["rules"] = _role_rules(run.job.node_condition_rules)
    elif kind in {"RoleBinding", "ClusterRoleBinding"}:
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
    spec["automountServiceAccountToken"] = run.job.service_account_token
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = run.name
    container = spec["containers"][0]
    container["image"] = run.image
    container["args"] = _flow(run.job.command[1:])
    container["env"] = _job_env(run, scheduled_at)


def _job_env(run: AgentRun, scheduled_at: str) -> CommentedSeq:
    """The Job's env from the agent's description: every value checked by its rule, secrets by reference."""
    job = run.job
    values = dict(run.agent_env)
    unknown = set(values) - {variable.name for variable in job.job_env if variable.source in {"run", "fixed"}}
    if unknown:
        raise InvalidInput(f"{run.agent} takes no {', '.join(sorted(unknown))}")
    env = CommentedSeq()
    missing = []
    for variable in job.job_env:
        if variable.secret is not None:
            reference = CommentedMap([("name", variable.secret.name), ("key", variable.secret.key)])
            if variable.secret.optional:
                reference["optional"] = True
            env.append(CommentedMap([("name", variable.name),
                                     ("valueFrom", CommentedMap([("secretKeyRef", reference)]))]))
            continue
        value = _value(run, variable, values, scheduled_at)
        if value is None:
            if variable.required:
                missing.append(variable.name)
            continue
        env.append(CommentedMap([("name", variable.name), ("value", variable.check(value))]))
    if missing:
        raise InvalidInput(f"{run.agent} needs {', '.join(missing)}")
    return env


def _value(run: AgentRun, variable: JobEnv, values: dict[str, str], scheduled_at: str) -> str | None:
    if variable.source == "callback":
        return run.callback_url
    if variable.source == "scheduled-at":
        return scheduled_at
    if variable.option in STORE_OPTIONS:
        return str(getattr(run, STORE_OPTIONS[variable.option]))
    if variable.source == "fixed" and values.get(variable.name, variable.value) != variable.value:
        raise InvalidInput(f"{variable.name} of {run.agent} is always {variable.value}")
    return values.get(variable.name, variable.value)


def _flow(items: tuple[str, ...]) -> CommentedSeq:
    sequence = CommentedSeq(DoubleQuotedScalarString(item) if item == "" else item for item in items)
    sequence.fa.set_flow_style()
    return sequence


def _role_rules(rules: tuple[RoleRule, ...]) -> CommentedSeq:
    return CommentedSeq(
        CommentedMap([("apiGroups", _flow(rule.api_groups)), ("resources", _flow(rule.resources)),
                      ("verbs", _flow(rule.verbs))])
        for rule in rules
    )

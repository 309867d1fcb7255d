"""One agent Job's contract, read from its declarative description (`agent_jobs/<agent>.yaml`).

The description is the single place that says what an agent's Job is: its image and command,
its templates, each environment variable (the identifier rule its value follows, whether it is
required, where the value comes from, who reads it), its callback path, its egress and its
RBAC. gitops-patcher renders from it; the tests hold each tool's CLI, the templates and the
Jenkins steps to it. Reading a description is strict: an unknown field or source is an error,
so a typo cannot silently drop a rule.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ruamel.yaml import YAML

from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import RULES_BY_NAME, IdentifierRule

# Where a Job's variable gets its value.
SOURCES = frozenset({
    "run",           # a value of the run, given to gitops-patcher as `option`
    "callback",      # gitops-patcher's --control-plane-url followed by the agent's callback_path
    "scheduled-at",  # the moment the run was scheduled (RFC 3339 UTC)
    "fixed",         # `value`, the same in every run
    "secret",        # a secretKeyRef to `secret` in the agents namespace; never a value in Git
    "image",         # set by the agent's image, not by the Job (e.g. the fix agent's source commit)
})
# Who reads a variable: the command's click options, or a library or the tool's own code.
READERS = frozenset({"cli", "boto3", "tempfile", "environ"})
# Every agent reaches these (agents-common-egress): DNS, the artifact store and the control plane.
COMMON_EGRESS = ("dns", "minio", "control-plane")
EGRESS = frozenset({*COMMON_EGRESS, "kube-api", "llm", "preflight"})


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class JobEnv:
    """One environment variable of the Job."""

    name: str
    source: str
    required: bool
    rule: IdentifierRule | None = None
    choices: tuple[str, ...] = ()
    option: str | None = None
    value: str | None = None
    secret: SecretRef | None = None
    read_by: str = "cli"

    def check(self, value: str) -> str:
        """The value when it follows this variable's rule; InvalidInput naming the variable otherwise."""
        if self.rule is not None:
            try:
                return self.rule.check(value)
            except InvalidInput as error:
                raise InvalidInput(f"{self.name}: {error}") from error
        if self.choices and value not in self.choices:
            raise InvalidInput(f"{self.name} {value!r} is not one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class RoleRule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class AgentJob:
    agent: str
    run_prefix: str
    image: str
    command: tuple[str, ...]
    template: str
    files: tuple[str, ...]
    service_account_token: bool
    callback_path: str
    env: tuple[JobEnv, ...]
    egress: tuple[str, ...]
    egress_policy: str
    role_namespace: str  # "target" (the namespace it reads) or "none"
    role_rules: tuple[RoleRule, ...]
    node_condition_rules: tuple[RoleRule, ...] = ()

    @property
    def job_env(self) -> tuple[JobEnv, ...]:
        """The variables the Job itself sets, in the Job's order."""
        return tuple(entry for entry in self.env if entry.source != "image")

    def variable(self, name: str) -> JobEnv:
        return next(entry for entry in self.env if entry.name == name)

    @property
    def own_egress(self) -> tuple[str, ...]:
        """Destinations beyond the common ones, in the order of its NetworkPolicy's rules."""
        return tuple(name for name in self.egress if name not in COMMON_EGRESS)


def _descriptions() -> Any:
    return resources.files("pathops_contracts") / "agent_jobs"


def agent_names() -> tuple[str, ...]:
    """The agents that have a description (cheap: lists file names, parses nothing)."""
    return tuple(sorted(entry.name.removesuffix(".yaml") for entry in _descriptions().iterdir()
                        if entry.name.endswith(".yaml")))


@functools.cache
def load_agent_job(agent: str) -> AgentJob:
    if agent not in agent_names():
        raise InvalidInput(f"no agent Job is described as {agent!r}; known: {', '.join(agent_names())}")
    text = (_descriptions() / f"{agent}.yaml").read_text(encoding="utf-8")
    document = YAML(typ="safe", pure=True).load(text)
    try:
        job = _agent_job(document)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"agent_jobs/{agent}.yaml is not a valid description: {error!r}") from error
    if job.agent != agent:
        raise InvalidInput(f"agent_jobs/{agent}.yaml describes {job.agent!r}")
    return job


def _fields(document: Any, required: set[str], optional: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise TypeError(f"expected a mapping, got {document!r}")
    unknown = set(document) - required - (optional or set())
    missing = required - set(document)
    if unknown or missing:
        raise ValueError(f"unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    return document


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _job_env(document: Any) -> JobEnv:
    fields = _fields(document, {"name", "from", "required"},
                     {"rule", "choices", "option", "value", "secret", "read_by"})
    source, read_by = fields["from"], fields.get("read_by", "cli")
    if source not in SOURCES or read_by not in READERS or not isinstance(fields["required"], bool):
        raise ValueError(f"{fields['name']}: from {source!r}, read_by {read_by!r}, required {fields['required']!r}")
    if (source == "run") != ("option" in fields) or (source == "fixed") != ("value" in fields) or \
            (source == "secret") != ("secret" in fields):
        raise ValueError(f"{fields['name']}: 'option' goes with run, 'value' with fixed, 'secret' with secret")
    if "rule" in fields and fields["rule"] not in RULES_BY_NAME:
        raise ValueError(f"{fields['name']}: no identifier rule {fields['rule']!r}")
    secret = None
    if "secret" in fields:
        ref = _fields(fields["secret"], {"name", "key"}, {"optional"})
        secret = SecretRef(str(ref["name"]), str(ref["key"]), bool(ref.get("optional", False)))
    return JobEnv(
        name=str(fields["name"]), source=source, required=fields["required"],
        rule=RULES_BY_NAME[fields["rule"]] if "rule" in fields else None,
        choices=_strings(fields["choices"]) if "choices" in fields else (),
        option=fields.get("option"), value=fields.get("value"), secret=secret, read_by=read_by,
    )


def _role_rules(value: Any) -> tuple[RoleRule, ...]:
    rules = []
    for item in value or []:
        fields = _fields(item, {"apiGroups", "resources", "verbs"})
        rules.append(RoleRule(_strings(fields["apiGroups"]), _strings(fields["resources"]), _strings(fields["verbs"])))
    return tuple(rules)


def _agent_job(document: Any) -> AgentJob:
    fields = _fields(document, {"agent", "run_prefix", "image", "command", "template", "files",
                                "service_account_token", "callback_path", "env", "egress", "egress_policy", "rbac"})
    rbac = _fields(fields["rbac"], {"namespace", "rules"}, {"node_conditions"})
    egress = _strings(fields["egress"])
    if not set(COMMON_EGRESS) <= set(egress) <= EGRESS:
        raise ValueError(f"egress {list(egress)}: needs {list(COMMON_EGRESS)}, knows only {sorted(EGRESS)}")
    if rbac["namespace"] not in {"target", "none"} or (rbac["namespace"] == "none") != (not rbac["rules"]):
        raise ValueError(f"rbac namespace {rbac['namespace']!r}: 'target' with rules, 'none' without")
    env = tuple(_job_env(item) for item in fields["env"])
    if len({entry.name for entry in env}) != len(env):
        raise ValueError("an env variable is described twice")
    if not isinstance(fields["service_account_token"], bool):
        raise TypeError("service_account_token must be true or false")
    return AgentJob(
        agent=str(fields["agent"]), run_prefix=str(fields["run_prefix"]), image=str(fields["image"]),
        command=_strings(fields["command"]), template=str(fields["template"]), files=_strings(fields["files"]),
        service_account_token=fields["service_account_token"], callback_path=str(fields["callback_path"]),
        env=env, egress=egress, egress_policy=str(fields["egress_policy"]), role_namespace=rbac["namespace"],
        role_rules=_role_rules(rbac["rules"]), node_condition_rules=_role_rules(rbac.get("node_conditions")),
    )

"""Each agent's Job description (pathops_contracts/agent_jobs/) against everything that must agree with it.

The CLI the Job runs must read every variable the Job sets and be given every variable it
requires, with the same identifier rule on both sides; gitops-patcher's options must carry
those rules too; the templates (env, args, RBAC, token, NetworkPolicies) and the images must
say what the description says. A drift anywhere is a failing test here, naming the variable.
"""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest
from ruamel.yaml import YAML

from fix_agent.image_build import ImageOrder, containerfile
from gitops_patcher.cli import run_option_names, run_options
from gitops_patcher.namespace import COMMON_POLICY
from gitops_patcher.render import templates_root
from pathops_contracts.agent_job import AgentJob, JobEnv, agent_names, load_agent_job
from pathops_contracts.errors import InvalidInput
from pathops_runtime.cli import IdentifierType
from tests.gitops_patcher.conftest import agent_args, patcher

ROOT = Path(__file__).resolve().parent.parent
AGENTS = agent_names()
# Who reads a variable that is no click option: the only names each reader may claim.
LIBRARY_READERS = {"boto3": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, "tempfile": {"TMPDIR"}}


def test_every_agent_gitops_patcher_schedules_has_a_description() -> None:
    assert AGENTS == ("evidence-collector", "fix-agent", "verification-agent")
    assert sorted(p.name for p in templates_root().iterdir() if (p / "job.yaml").exists()) == list(AGENTS)


def cli_command(job: AgentJob) -> click.Command:
    """The click command the Job's container runs: the console script, then its subcommand."""
    (script,) = [entry for entry in entry_points(group="console_scripts") if entry.name == job.command[0]]
    group = script.load()
    assert isinstance(group, click.Group)
    command = group.commands[job.command[1]]
    return command


def cli_drift(job: AgentJob, command: click.Command) -> list[str]:
    """Every disagreement between what the Job sets and what the command reads."""
    problems: list[str] = []
    options = {str(param.envvar): param for param in command.params if isinstance(param, click.Option)}
    described = {variable.name: variable for variable in job.env}
    for variable in job.env:
        option = options.get(variable.name)
        if variable.read_by == "cli":
            if option is None:
                problems.append(f"the Job sets {variable.name}, which `{' '.join(job.command)}` does not read")
                continue
            problems += _type_drift(variable, option.type, f"`{' '.join(job.command)}`")
        elif option is not None:
            problems.append(f"{variable.name} is an option of the command, not read by {variable.read_by}")
        elif variable.read_by in LIBRARY_READERS and variable.name not in LIBRARY_READERS[variable.read_by]:
            problems.append(f"{variable.read_by} reads no {variable.name}")
    for name, option in options.items():
        if option.required and (name not in described or not described[name].required):
            problems.append(f"`{' '.join(job.command)}` requires {name}, which the Job does not always set")
    return problems


def _type_drift(variable: JobEnv, kind: click.ParamType, reader: str) -> list[str]:
    if variable.rule is not None:
        if not isinstance(kind, IdentifierType) or kind.rule is not variable.rule:
            return [f"{reader} reads {variable.name} as {kind.name}, the description as {variable.rule.name}"]
    elif variable.choices:
        if not isinstance(kind, click.Choice) or not set(variable.choices) <= set(kind.choices):
            return [f"{reader} does not take {variable.name} in {list(variable.choices)}"]
    elif isinstance(kind, IdentifierType):
        return [f"{reader} checks {variable.name} as {kind.name}; the description names no rule"]
    return []


@pytest.mark.parametrize("agent", AGENTS)
def test_the_cli_reads_exactly_what_the_job_sets(agent: str) -> None:
    job = load_agent_job(agent)
    assert cli_drift(job, cli_command(job)) == []


@pytest.mark.parametrize(("change", "problem"), [
    (lambda job: [*job.env, JobEnv("FIX_AGENT_MODLE", "fixed", True, value="x")],
     "the Job sets FIX_AGENT_MODLE, which `fix-agent run` does not read"),
    (lambda job: [v for v in job.env if v.name != "SNAPSHOT_ID"],
     "`fix-agent run` requires SNAPSHOT_ID, which the Job does not always set"),
    (lambda job: [dataclasses.replace(v, required=False) if v.name == "SOURCE_COMMIT_SHA" else v for v in job.env],
     "`fix-agent run` requires SOURCE_COMMIT_SHA, which the Job does not always set"),
    (lambda job: [dataclasses.replace(v, rule=load_agent_job("evidence-collector").variable("INCIDENT_ID").rule)
                  if v.name == "SNAPSHOT_ID" else v for v in job.env],
     "`fix-agent run` reads SNAPSHOT_ID as artifact id, the description as incident id"),
    (lambda job: [dataclasses.replace(v, read_by="boto3") if v.name == "OPENAI_API_KEY" else v for v in job.env],
     "boto3 reads no OPENAI_API_KEY"),
])
def test_a_drifted_description_is_caught(change: Any, problem: str) -> None:
    """The check above is not vacuous: each kind of drift it exists for is reported."""
    job = load_agent_job("fix-agent")
    drifted = dataclasses.replace(job, env=tuple(change(job)))
    assert problem in cli_drift(drifted, cli_command(job))


@pytest.mark.parametrize("agent", AGENTS)
def test_variables_read_by_the_tools_own_code_are_read_there(agent: str) -> None:
    job = load_agent_job(agent)
    package = ROOT / "agents" / job.command[0].replace("-", "_")
    source = "\n".join(path.read_text() for path in package.glob("*.py"))
    for variable in job.env:
        if variable.read_by == "environ":
            assert f'"{variable.name}"' in source, variable.name


@pytest.mark.parametrize("agent", AGENTS)
def test_gitops_patcher_takes_each_run_value_by_the_rule_the_job_gives_it(agent: str) -> None:
    def probe() -> None:
        """Carries the options."""

    params = {flag: param for param in getattr(run_options(probe), "__click_params__", []) for flag in param.opts}
    names = run_option_names()
    for variable in load_agent_job(agent).env:
        if variable.source == "run":
            assert variable.option in names, f"gitops-patcher has no {variable.option} for {variable.name}"
            assert _type_drift(variable, params[variable.option].type, "gitops-patcher") == []


@pytest.mark.parametrize("agent", [a for a in AGENTS if any(v.source == "image" for v in load_agent_job(a).env)])
def test_what_the_image_sets_is_set_by_the_image(agent: str) -> None:
    order = ImageOrder("shop-frontend", "https://gitlab.demo.pathops.io/shop/shop-frontend.git", "4" * 40,
                       "harbor.demo.pathops.io/pathops/fix-agent-runtime:0.1.0",
                       "harbor.demo.pathops.io/pathops/agents")
    (env_line,) = [line for line in containerfile(order, "0.1.0").splitlines() if line.startswith("ENV ")]
    for variable in load_agent_job(agent).env:
        if variable.source == "image":
            value = re.search(rf"\b{variable.name}=(\S+)", env_line)
            assert value, variable.name
            if variable.rule is not None:
                variable.check(value[1])


@pytest.mark.parametrize("agent", AGENTS)
def test_the_image_runs_the_described_command(agent: str) -> None:
    job = load_agent_job(agent)
    entrypoints = {path.parent.name: path.read_text() for path in (ROOT / "images").glob("*/Dockerfile")}
    assert any(f'ENTRYPOINT ["{job.command[0]}"]' in text and f'CMD ["{job.command[1]}"]' in text
               for text in entrypoints.values())


def _template(job: AgentJob, name: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all((templates_root() / job.template / name).read_text()) if doc]


@pytest.mark.parametrize("agent", AGENTS)
def test_the_templates_show_what_the_description_renders(agent: str) -> None:
    """The templates keep demo values for `kubectl kustomize`; their shape is the description's."""
    job = load_agent_job(agent)
    (template,) = _template(job, "job.yaml")
    pod = template["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == list(job.command[1:])
    assert pod["automountServiceAccountToken"] is job.service_account_token
    (account,) = _template(job, "serviceaccount.yaml")
    assert account.get("automountServiceAccountToken", True) is job.service_account_token
    expected = []
    for variable in job.job_env:
        if variable.secret is not None:
            reference = {"name": variable.secret.name, "key": variable.secret.key}
            expected.append((variable.name, {"secretKeyRef": reference | (
                {"optional": True} if variable.secret.optional else {})}))
        elif variable.required or variable.source == "fixed":
            expected.append((variable.name, variable.value if variable.source == "fixed" else "demo"))
    shown = [(entry["name"], entry["valueFrom"] if "valueFrom" in entry else
              entry["value"] if job.variable(entry["name"]).source == "fixed" else "demo")
             for entry in container["env"]]
    assert shown == expected
    for entry in container["env"]:
        if "value" in entry:
            job.variable(entry["name"]).check(str(entry["value"]))
    (kustomization,) = _template(job, "kustomization.yaml")
    assert kustomization["resources"] == list(job.files)
    if job.role_namespace == "target":
        (role,) = _template(job, "role.yaml")
        assert role["rules"] == [{"apiGroups": list(r.api_groups), "resources": list(r.resources),
                                  "verbs": list(r.verbs)} for r in job.role_rules]
    else:
        assert not (templates_root() / job.template / "role.yaml").exists()
    if job.node_condition_rules:
        cluster_role = _template(job, "clusterrole-nodes.yaml")[0]
        assert cluster_role["rules"] == [{"apiGroups": list(r.api_groups), "resources": list(r.resources),
                                          "verbs": list(r.verbs)} for r in job.node_condition_rules]
    spec = next((v for v in job.job_env if v.name == "VERIFICATION_SPEC"), None)
    if spec is not None:  # the spec's path is where the Job mounts the spec ConfigMap
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert str(Path(str(spec.value)).parent) == mounts["spec"]


def test_every_agent_policy_selects_its_agent_and_no_other_is_left() -> None:
    policies = {p["metadata"]["name"]: p for p in YAML(typ="safe").load_all(
        (templates_root() / "agents-namespace" / "networkpolicy.yaml").read_text())}
    for agent in AGENTS:
        policy = policies.pop(load_agent_job(agent).egress_policy)
        assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": agent}}
    assert set(policies) == {"default-deny", COMMON_POLICY}


def test_the_core_reads_each_run_value_from_the_field_its_option_fills() -> None:
    from gitops_patcher.core import RUN_VALUE_OPTIONS

    names = run_option_names()
    assert {flag: names.get(flag) for flag in RUN_VALUE_OPTIONS} == RUN_VALUE_OPTIONS
    named = {str(v.option) for agent in AGENTS for v in load_agent_job(agent).job_env if v.source == "run"}
    assert named - {"--minio-endpoint", "--minio-bucket"} <= set(RUN_VALUE_OPTIONS)


def test_a_job_value_that_breaks_its_rule_is_refused_when_rendered(tmp_path: Path) -> None:
    """Values are checked by the description's rule at render time too, not only by the CLI's types."""
    from gitops_patcher.core import agent_run
    from gitops_patcher.render import render_run
    from gitops_patcher.settings import RunSettings

    run = agent_run(RunSettings(
        agent="fix-agent", app="shop-frontend", environment="preflight", incident_id="INC-1",
        image="harbor.demo.pathops.io/pathops/x:1", time_window="30m", snapshot_id="snap-" + "a" * 32,
        verification_spec_root=tmp_path, read_node_conditions=False, minio_endpoint="https://minio.x",
        minio_bucket="pathops-evidence", control_plane_url="https://cp.x"))
    evil = dataclasses.replace(run, agent_env=(("SNAPSHOT_ID", "snap-x\n  - name: EVIL"),))
    with pytest.raises(InvalidInput, match="SNAPSHOT_ID"):
        render_run(evil, "2026-11-27T09:00:00Z")
    with pytest.raises(InvalidInput, match="fix-agent needs SNAPSHOT_ID"):
        render_run(dataclasses.replace(run, agent_env=()), "2026-11-27T09:00:00Z")
    with pytest.raises(InvalidInput, match="takes no WORKLOAD"):
        render_run(dataclasses.replace(run, agent_env=(*run.agent_env, ("WORKLOAD", "pod/x"))),
                   "2026-11-27T09:00:00Z")


def test_the_rendered_job_sets_what_the_description_says(tmp_path: Path) -> None:
    result = patcher("render", *agent_args("verification-agent"), "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folder = Path(json.loads(result.stdout)["path"])
    (job,) = [doc for doc in YAML(typ="safe").load_all((folder / "job.yaml").read_text()) if doc]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    described = load_agent_job("verification-agent")
    assert list(env) == [v.name for v in described.job_env]
    assert env["CONTROL_PLANE_CALLBACK_URL"].endswith(described.callback_path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d | {"secrets": []}, "unknown fields ['secrets']"),
    (lambda d: {k: v for k, v in d.items() if k != "callback_path"}, "missing fields ['callback_path']"),
    (lambda d: d | {"env": [*d["env"], {"name": "X", "from": "configmap", "required": True}]}, "from 'configmap'"),
    (lambda d: d | {"env": [*d["env"], {"name": "X", "from": "run", "required": True, "rule": "shoe size",
                                        "option": "--x"}]}, "X: no identifier rule 'shoe size'"),
    (lambda d: d | {"env": [*d["env"], {"name": "X", "from": "run", "required": True}]}, "'option' goes with run"),
    (lambda d: d | {"env": [*d["env"], d["env"][0]]}, "described twice"),
    (lambda d: d | {"egress": ["dns", "minio", "kube-api"]}, "needs ['dns', 'minio', 'control-plane']"),
    (lambda d: d | {"egress": [*d["egress"], "0.0.0.0/0"]}, "knows only"),
    (lambda d: d | {"rbac": {"namespace": "none", "rules": d["rbac"]["rules"]}}, "'none' without"),
])
def test_a_malformed_description_is_refused_by_name(change: Any, message: str) -> None:
    """A typo in a description must not silently drop a rule, a variable or a destination."""
    from pathops_contracts import agent_job

    text = (resources.files("pathops_contracts") / "agent_jobs" / "evidence-collector.yaml").read_text()
    document = YAML(typ="safe").load(text)
    with pytest.raises((KeyError, TypeError, ValueError), match=re.escape(message)):
        agent_job._agent_job(change(document))

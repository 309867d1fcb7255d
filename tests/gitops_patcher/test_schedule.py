"""schedule and prune against real bare repositories, including a race of 20 concurrent runs."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_patcher.core import prune_in
from gitops_patcher.gitops_repository import GitOpsRepository
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.git_repos import git
from tests.gitops_patcher.conftest import agent_args, patcher
from tests.manifest_checks import kustomize, run_checkov, validate_schemas


def schedule(remote: Path, agent: str = "evidence-collector", incident: str = "INC-1042",
             scratch: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--scratch-dir", str(scratch)] if scratch else []
    return patcher("schedule", *agent_args(agent, incident), "--repo", remote.as_uri(), *extra)


def checkout(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", remote.as_uri(), str(where)], check=True)
    return where


def test_schedule_commits_the_run_with_trailers(gitops_remote: Path, tmp_path: Path) -> None:
    result = schedule(gitops_remote)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["changed"] is True and out["retries"] == 0
    work = checkout(gitops_remote, tmp_path / "check")
    app = work / "agents" / "shop-frontend"
    run = app / "runs" / out["run"]
    assert sorted(p.name for p in run.iterdir()) == [
        "job.yaml", "kustomization.yaml", "role.yaml", "rolebinding.yaml", "serviceaccount.yaml"]
    assert (app / "kustomization.yaml").read_text().splitlines()[-2:] == ["  - namespace", f"  - runs/{out['run']}"]
    assert (work / "apps" / "shop-frontend" / "kustomization.yaml").exists()  # the rest of the repo is untouched
    message = git(work, "log", "-1", "--format=%B")
    assert f"Incident-Id: INC-1042\nAgent: evidence-collector\nRun-Id: {out['run']}" in message
    assert git(work, "log", "-1", "--format=%an <%ae>") == "PathOps Autopilot <autopilot@pathops.io>"
    kinds = sorted(o["kind"] for o in kustomize(app))
    assert kinds == ["Job", "Namespace", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy",
                     "NetworkPolicy", "Role", "RoleBinding", "ServiceAccount"]
    assert validate_schemas(app) == 10
    assert run_checkov(app)["failed"] == 0


def test_running_the_same_schedule_twice_changes_nothing(gitops_remote: Path) -> None:
    first = schedule(gitops_remote)
    head = git(gitops_remote, "rev-parse", "main")
    second = schedule(gitops_remote)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["changed"] is False
    assert json.loads(second.stdout)["run"] == json.loads(first.stdout)["run"]
    assert git(gitops_remote, "rev-parse", "main") == head


def test_the_three_agents_share_one_namespace_folder(gitops_remote: Path, tmp_path: Path) -> None:
    for agent in ("evidence-collector", "fix-agent", "verification-agent"):
        assert schedule(gitops_remote, agent).returncode == 0
    work = checkout(gitops_remote, tmp_path / "check")
    objects = kustomize(work / "agents" / "shop-frontend")
    assert sum(o["kind"] == "Job" for o in objects) == 3
    assert sum(o["kind"] == "Namespace" for o in objects) == 1


def _repository(remote: Path, tmp_path: Path) -> GitOpsRepository:
    return GitOpsRepository(remote.as_uri(), "main", tmp_path / f"prune-{datetime.now().timestamp()}",
                            git_environment(GitIdentity()))


def test_prune_removes_only_finished_runs_older_than_asked(gitops_remote: Path, tmp_path: Path) -> None:
    old = json.loads(schedule(gitops_remote, incident="INC-1").stdout)["run"]
    young = json.loads(schedule(gitops_remote, incident="INC-2").stdout)["run"]
    now = datetime.now(UTC)
    # Right away nothing is finished: activeDeadlineSeconds has not passed.
    result = prune_in(_repository(gitops_remote, tmp_path), now, timedelta(0), None)
    assert result.pruned == [] and result.commit is None
    # A day later both are finished; only runs older than 23h go... both were scheduled now, so use the age.
    result = prune_in(_repository(gitops_remote, tmp_path), now + timedelta(hours=2), timedelta(hours=1),
                      "shop-frontend")
    assert sorted(result.pruned) == sorted([f"shop-frontend/{old}", f"shop-frontend/{young}"])
    work = checkout(gitops_remote, tmp_path / "after")
    assert not (work / "agents" / "shop-frontend" / "runs").exists() or not list(
        (work / "agents" / "shop-frontend" / "runs").iterdir())
    assert "runs/" not in (work / "agents" / "shop-frontend" / "kustomization.yaml").read_text()
    assert "Prune 2 finished agent runs" in git(work, "log", "-1", "--format=%B")
    kustomize(work / "agents" / "shop-frontend")  # still builds


def test_prune_keeps_a_run_younger_than_its_deadline_whatever_older_than_says(gitops_remote: Path) -> None:
    run = json.loads(schedule(gitops_remote).stdout)["run"]
    result = patcher("prune", "--older-than", "0s", "--repo", gitops_remote.as_uri())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["pruned"] == [] and out["kept"] == [f"shop-frontend/{run}"]


def test_prune_refuses_a_bad_duration(gitops_remote: Path) -> None:
    result = patcher("prune", "--older-than", "7 days", "--repo", gitops_remote.as_uri())
    assert result.returncode == 2 and "duration" in result.stderr


def test_prune_refuses_an_absurd_duration_before_touching_the_repository(tmp_path: Path) -> None:
    result = patcher("prune", "--older-than", "99999999999999999999d", "--repo", (tmp_path / "none").as_uri())
    assert result.returncode == 2 and "is longer than" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("option", "variable"), [("--control-plane-egress", "EGRESS_CONTROL_PLANE"),
                                                  ("--kube-api-egress", "EGRESS_KUBE_API")])
def test_a_missing_egress_is_one_line_and_commits_nothing(gitops_remote: Path, option: str, variable: str) -> None:
    # No guessed address: a NetworkPolicy to the wrong IP would cut the agents off without a word.
    head = git(gitops_remote, "rev-parse", "main")
    result = patcher("schedule", *agent_args("evidence-collector"), "--repo", gitops_remote.as_uri(),
                     **{variable: ""})  # an empty variable is an unset one
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"gitops-patcher: error: {option} is required: pass it or set {variable}"]
    assert git(gitops_remote, "rev-parse", "main") == head


def egress_policies(remote: Path, where: Path) -> dict[str, list[Any]]:
    work = checkout(remote, where)
    text = (work / "agents" / "shop-frontend" / "namespace" / "networkpolicy.yaml").read_text()
    return {doc["metadata"]["name"]: doc["spec"].get("egress") or [] for doc in yaml.safe_load_all(text)}


def cidrs(rules: list[Any]) -> list[tuple[str, list[int]]]:
    return [(peer["ipBlock"]["cidr"], [port["port"] for port in rule["ports"]])
            for rule in rules for peer in rule["to"] if "ipBlock" in peer]


def test_the_network_policies_allow_exactly_the_given_egress(gitops_remote: Path, tmp_path: Path) -> None:
    result = patcher("schedule", *agent_args("fix-agent"), "--repo", gitops_remote.as_uri(),
                     "--llm-egress", "10.50.0.9/32:443")
    assert result.returncode == 0, result.stderr
    policies = egress_policies(gitops_remote, tmp_path / "check")
    assert cidrs(policies["agents-common-egress"]) == [("10.40.0.7/32", [8443])]
    assert cidrs(policies["evidence-collector-kube-api"]) == [("10.43.0.1/32", [443, 6443])]
    assert cidrs(policies["fix-agent-llm"]) == [("10.50.0.9/32", [443])]


def test_without_an_llm_egress_the_fix_agent_may_reach_no_llm(gitops_remote: Path, tmp_path: Path) -> None:
    result = patcher("schedule", *agent_args("fix-agent"), "--repo", gitops_remote.as_uri(), EGRESS_LLM="")
    assert result.returncode == 0, result.stderr
    policies = egress_policies(gitops_remote, tmp_path / "check")
    assert policies["fix-agent-llm"] == []  # Egress policy type with no rule: nothing beyond the common egress
    assert all("198.51.100.20/32" not in str(rules) for rules in policies.values())


def test_unreachable_repository_is_exit_5(tmp_path: Path) -> None:
    result = patcher("schedule", *agent_args("evidence-collector"), "--repo", (tmp_path / "missing.git").as_uri())
    assert result.returncode == 5
    assert "clone failed" in result.stderr


def test_twenty_concurrent_schedules_all_land_with_linear_history(gitops_remote: Path, tmp_path: Path) -> None:
    incidents = [f"INC-{n}" for n in range(100, 120)]
    before = int(git(gitops_remote, "rev-list", "--count", "main"))
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda i: schedule(gitops_remote, incident=i, scratch=tmp_path / i), incidents))
    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    runs = {json.loads(r.stdout)["run"] for r in results}
    assert len(runs) == 20
    assert int(git(gitops_remote, "rev-list", "--count", "main")) == before + 20
    assert git(gitops_remote, "rev-list", "--merges", "main") == ""  # linear
    work = checkout(gitops_remote, tmp_path / "check")
    listed = (work / "agents" / "shop-frontend" / "kustomization.yaml").read_text()
    assert all(f"runs/{run}" in listed for run in runs)
    assert sum(o["kind"] == "Job" for o in kustomize(work / "agents" / "shop-frontend")) == 20
    assert sum(json.loads(r.stdout)["retries"] for r in results) > 0  # they really raced

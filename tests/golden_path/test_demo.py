"""`pathops demo` end to end, as `make demo` runs it: every step, real CLIs, local stand-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pathops_contracts.contracts import (
    EVIDENCE_CALLBACK,
    FIX_CALLBACK,
    JENKINS_WEBHOOK,
    VERIFICATION_CALLBACK,
    validate_document,
)
from pathops_contracts.identifiers import VERIFICATION_ID


def test_the_golden_path_from_alert_to_merge_request(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run([str(Path(sys.executable).parent / "pathops"), "demo", "--workdir", str(workdir)],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GIT_"))})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert [s["name"].split(" ")[0] for s in summary["steps"]] == [
        "start", "1", "2-3", "4", "5", "6-7", "8", "9", "10", "11-12", "check:", "13", "14", "15", "16", "17"]
    assert all(isinstance(step["seconds"], float) for step in summary["steps"])
    assert summary["check"]["passed"] is True
    assert summary["check"]["before"] == ["/healthz", 404] and summary["check"]["after"] == ["/health", 200]
    assert summary["branch"] == "cs-314-fix-readiness-probe-path-healthz-health"
    assert summary["mr_url"].endswith("/shop/shop-frontend/-/merge_requests/1")
    assert "-              path: /healthz" in summary["diff"] and "+              path: /health " in summary["diff"]
    callbacks = {c["path"]: c for c in summary["callbacks"]}
    assert set(callbacks) == {"/api/evidence/callback", "/api/fix/callback", "/webhooks/jenkins",
                              "/api/verification/callback"}
    validate_document(callbacks["/api/verification/callback"]["payload"], VERIFICATION_CALLBACK)
    assert all(c["signature_valid"] for c in summary["callbacks"])
    validate_document(callbacks["/api/evidence/callback"]["payload"], EVIDENCE_CALLBACK)
    validate_document(callbacks["/api/fix/callback"]["payload"], FIX_CALLBACK)
    validate_document(callbacks["/webhooks/jenkins"]["payload"], JENKINS_WEBHOOK)
    assert callbacks["/api/evidence/callback"]["payload"]["source_commit_sha"] == summary["source_commit_sha"]
    # The GitOps repository holds both agent runs, as Jenkins committed them.
    gitops = workdir / "gitlab" / "shop" / "shop-frontend-gitops.git"
    log = subprocess.run(["git", "-C", str(gitops), "log", "--format=%s"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert log[:3] == ["Schedule verification-agent for INC-2042 (shop-frontend, preflight)",
                       "Schedule fix-agent for INC-2042 (shop-frontend, preflight)",
                       "Schedule evidence-collector for INC-2042 (shop-frontend, preflight)"]
    # Section 3: the MR's head ran in preflight, its own checks (from the bundle) passed, the MR left Draft.
    assert summary["verification_status"] == "passed" and summary["mr_draft"] is False
    # The verification run has its own id from the control plane, not one made from the incident's.
    assert VERIFICATION_ID.check(summary["verification_id"]) != "VER-2042"
    assert callbacks["/api/verification/callback"]["payload"]["verification_id"] == summary["verification_id"]
    assert summary["report_id"].startswith("report-")
    assert summary["preflight"]["probe"] == "/health -> HTTP 200"
    assert "GET http://shop-frontend.shop-frontend-preflight.svc/health" in summary["preflight"]["service_requests"]
    (mr,) = json.loads((workdir / "merge_request.json").read_text())
    assert mr["draft"] is False and not mr["title"].startswith("Draft") and "pathops::verified" in mr["labels"]
    (note,) = mr["notes"]
    assert summary["report_id"] in note["body"] and "verification passed" in note["body"]
    assert "- [x] the new readinessProbe path answers 200 through the Service: " in mr["description"]
    # Every artifact, under its S3 key: what a user opens after the demo.
    kept = sorted(str(p.relative_to(workdir / "artifacts")) for p in (workdir / "artifacts").rglob("*") if p.is_file())
    assert kept == sorted([f"snapshots/{summary['snapshot_id']}.tar.gz", f"patches/{summary['patch_id']}.tar.gz",
                           f"reports/{summary['report_id']}.json", f"reports/{summary['report_id']}.junit.xml"])
    report = json.loads((workdir / "artifacts" / "reports" / f"{summary['report_id']}.json").read_text())
    assert report["expected_commit_sha"] == summary["preflight"]["release"]
    assert "Step" in result.stdout and summary["patch_id"] in result.stdout
    # The merge request tells the story: the alert, the commit that broke it, the evidence of both pods.
    (mr,) = json.loads((workdir / "merge_request.json").read_text())
    body = mr["description"]
    assert "- **Alert:** `KubeDeploymentReplicasMismatch`" in body and "- **Environment:** `preflight`" in body
    broke = body.split("## What broke it")[1].split("## The evidence")[0]
    assert "The fix replaces lines written by:" in broke
    assert "Standardize the health endpoint on /healthz — Dana Developer" in broke
    evidence = body.split("## The evidence")[1].split("## Timeline")[0]
    # The Deployment's two pods fail alike: one finding, titled by the workload, naming both.
    assert evidence.count("readiness probe fails in 2 pods of deployment/shop-frontend (/healthz:8080) — pods: ") == 1
    assert "objects/events.jsonl:" in evidence and "GET /healthz 404" in evidence
    analysis = body.split("Analysis by the fix agent</summary>")[1].split("</details>")[0]
    assert "**Analysis of INC-2042**" in analysis and "(pods: " in analysis  # Markdown, not a code block


def test_the_unfixed_release_in_preflight_fails_verification_and_the_mr_stays_draft(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run([str(Path(sys.executable).parent / "pathops"), "demo", "--workdir", str(workdir),
                             "--preflight", "unpatched"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GIT_"))})
    assert result.returncode == 3, result.stderr[-3000:]
    assert "preflight verification failed: the merge request stays Draft" in result.stderr.strip().splitlines()[-1]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["verification_status"] == "failed" and summary["mr_draft"] is True
    assert summary["preflight"]["probe"] == "/healthz -> HTTP 404"
    (mr,) = json.loads((workdir / "merge_request.json").read_text())
    assert mr["draft"] is True and mr["title"].startswith("Draft: ")
    assert "pathops::verification-failed" in mr["labels"] and "pathops::verified" not in mr["labels"]
    (note,) = mr["notes"]
    assert "failed: `rollout of deployment-shop-frontend`: rollout did not finish" in note["body"]


def test_kind_manifests_deploy_the_commit_the_demo_expects(tmp_path: Path) -> None:
    import kubernetes_validate
    from ruamel.yaml import YAML

    from golden_path.cli import EXAMPLE
    from golden_path.sample_app import create_source_repository

    command = [str(Path(sys.executable).parent / "pathops"), "kind-manifests", "--image", "shop-frontend:demo"]
    first = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert subprocess.run(command, capture_output=True, text=True, check=True).stdout == first
    deployment, service = [d for d in YAML(typ="safe").load_all(first) if d]
    for document in (deployment, service):
        kubernetes_validate.validate(document, "1.31.0", strict=True)
    _, _, broken = create_source_repository(EXAMPLE, tmp_path / "repos")
    assert deployment["metadata"]["annotations"]["pathops.io/source-commit"] == broken
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"  # broken on purpose
    assert container["image"] == "shop-frontend:demo"


def _demo_in(scratch: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`pathops demo` without --workdir, its temp dirs made under `scratch`."""
    return subprocess.run([str(Path(sys.executable).parent / "pathops"), "demo", *args], capture_output=True,
                          text=True, env={**os.environ, "TMPDIR": str(scratch), **env}, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)


def test_a_failed_run_without_workdir_removes_its_temp_dir_and_says_how_to_keep_the_logs(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _demo_in(scratch, "--kube-context", "no-such-context", KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    assert result.returncode == 5, result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("pathops: error:")]
    assert "evidence-collector exited 2" in error and error.endswith("rerun with --workdir DIR to keep them")
    assert list(scratch.iterdir()) == []


def test_an_example_the_demo_cannot_break_is_one_line_exit_2(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    example = tmp_path / "my-app"
    (example / "deploy").mkdir(parents=True)
    (example / "deploy" / "deployment.yaml").write_text("kind: Deployment\n")
    result = _demo_in(scratch, "--example", str(example))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"pathops: error: --example {example} is not a sample application the demo can break: it needs "
        "deploy/deployment.yaml with a readiness probe on 'path: /health'"]
    assert list(scratch.iterdir()) == []

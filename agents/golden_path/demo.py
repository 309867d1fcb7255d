"""`pathops demo`: the golden path, alert to merge request, with the real CLIs and local stand-ins.

PathOps' part (the control plane) is played here: it receives the alert, asks "Jenkins"
(the gitops-patcher and mr-creator CLIs) to act, lets "Argo CD and the kubelet" run the
Jobs exactly as rendered into the GitOps repository, and follows the callbacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

from golden_path.preflight import ServiceProxy, running_release, serving_app, sync_to_cluster
from golden_path.sample_app import create_gitops_repository, create_source_repository, load_cluster
from pathops_contracts.errors import NegativeOutcome, UpstreamError
from pathops_testbed.control_plane import ControlPlaneReceiver, new_verification_id
from pathops_testbed.git_http import GitHttpBackend
from pathops_testbed.gitlab_api import FakeGitLab
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.s3 import moto_s3_server

APP = "shop-frontend"
ENV = "preflight"
INCIDENT = "INC-2042"
CHANGESET = "CS-314"
TOKEN = "glpat-demo-token-0000000000"  # noqa: S105 -- the stand-ins accept only this, locally
SIGNING_KEY = "demo-signing-key-for-callbacks"
BUCKET = "pathops-evidence"
TOOL_VERSION = "0.1.0"
IMAGES = {
    "evidence-collector": "harbor.demo.pathops.io/pathops/evidence-collector:0.1.0",
    "fix-agent-runtime": "harbor.demo.pathops.io/pathops/fix-agent-runtime:0.1.0",  # the per-incident image's base
    "verification-agent": "harbor.demo.pathops.io/pathops/verification-agent:0.1.0",
}
FIX_AGENT_REPO = "harbor.demo.pathops.io/pathops/agents"  # where build-image would push fix-<app>:<sha12>-<version>
# Where the demo's agents may reach the Kubernetes API (gitops-patcher has no default): the ClusterIP of
# kind's `kubernetes` Service. The control plane's egress is its stand-in's port here; no LLM egress.
KUBE_API_EGRESS = "10.96.0.1/32:443"
# How long the derived checks watch preflight (the operator's settings of the fix agent): short for a demo.
CHECK_TIMINGS = {"VERIFICATION_ROLLOUT_TIMEOUT": "3s", "VERIFICATION_RESTARTS_WINDOW": "2s"}
# A container sees its image's environment and the Job's, nothing of the machine's but these.
JOB_INHERITS = {"PATH", "LANG", "LC_ALL", "PYTHONPATH"}
# What the agents namespace's Secrets hold in the demo (a real cluster gets them out of band).
SECRETS = {("pathops-minio", "access-key"): "pathops-demo", ("pathops-minio", "secret-key"): "pathops-demo-secret",
           ("pathops-callback", "signing-key"): SIGNING_KEY}


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


@dataclass
class Demo:
    workdir: Path
    example: Path
    out: Callable[[str], None] = print
    kube_context: str | None = None  # a real cluster (make kind-up) instead of the simulated one
    gitlab_url: str | None = None  # a real GitLab for the merge request
    gitlab_project: str | None = None
    preflight: str = "patched"  # what Argo CD deploys to preflight in section 3: the MR's head, or "unpatched"
    steps: list[Step] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        started = time.perf_counter()
        note: dict[str, str] = {"detail": ""}
        self.out(f"-> {name}")
        try:
            yield note
        finally:
            seconds = time.perf_counter() - started
            self.steps.append(Step(name, seconds, note["detail"]))
            self.out(f"   {seconds:6.2f}s  {note['detail']}")

    def tool(self, name: str, *args: str, env: dict[str, str] | None = None, as_job: bool = False,
             accept: tuple[int, ...] = (0,)) -> dict[str, Any]:
        """Run one of our CLIs as Jenkins would, or as a Job (only the Job's own env); its JSON result."""
        command = [str(Path(sys.executable).parent / name), *args]
        base = {k: v for k, v in self.base_env.items() if k in JOB_INHERITS} if as_job else self.base_env
        result = subprocess.run(command, env={**base, **(env or {})}, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, check=False)
        log = self.workdir / "logs" / f"{len(self.steps):02d}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(command)}\n\n{result.stderr}")
        if result.returncode not in accept:
            last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "(no output)"
            raise UpstreamError(f"{name} exited {result.returncode}: {last} (log: {log})")
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    def run(self) -> dict[str, Any]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            self._start_stand_ins(stack)
            self._golden_path()
        return self.summary

    # --- stand-ins --------------------------------------------------------------------------

    def _start_stand_ins(self, stack: ExitStack) -> None:
        with self.step("start the stand-ins (MinIO, GitLab, Kubernetes, control plane)") as note:
            repos = self.workdir / "gitlab"
            self.source_bare, self.good_sha, self.broken_sha = create_source_repository(self.example, repos)
            self.gitops_bare = create_gitops_repository(repos)
            git_server = stack.enter_context(BackgroundServer(GitHttpBackend(repos, TOKEN)))
            self.gitlab = FakeGitLab(TOKEN, base_url="https://gitlab.demo.pathops.io")
            self.source_url = f"{git_server.url}/shop/shop-frontend.git"
            self.gitlab.add_project("shop/shop-frontend", self.source_url, repository=self.source_bare)
            self.gitlab_api_url = stack.enter_context(BackgroundServer(self.gitlab)).url
            self.gitops_url = f"{git_server.url}/shop/shop-frontend-gitops.git"
            if self.kube_context is None:
                self.cluster = FakeKubernetes()
                load_cluster(self.cluster, self.source_bare, self.good_sha, self.broken_sha, f"{APP}-{ENV}")
                kube_url = stack.enter_context(BackgroundServer(self.cluster)).url
                self.kube_env = {"KUBECONFIG": str(write_kubeconfig(self.workdir / "kubeconfig", kube_url,
                                                                    f"{APP}-{ENV}"))}
            else:  # the user's kubeconfig, the context that `make kind-up` created
                self.kube_env = {"KUBE_CONTEXT": self.kube_context,
                                 "KUBECONFIG": os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))}
            self.control_plane = ControlPlaneReceiver(SIGNING_KEY)
            self.control_plane_url = stack.enter_context(BackgroundServer(self.control_plane)).url
            self.minio_url = stack.enter_context(moto_s3_server())
            self.base_env = {**os.environ, "AWS_ACCESS_KEY_ID": SECRETS[("pathops-minio", "access-key")],
                             "AWS_SECRET_ACCESS_KEY": SECRETS[("pathops-minio", "secret-key")],
                             "CALLBACK_SIGNING_KEY": SIGNING_KEY, "GITLAB_TOKEN": TOKEN,
                             "GIT_CONFIG_GLOBAL": os.devnull, "CALLBACK_DEADLINE_SECONDS": "30"}
            _create_bucket(self.minio_url, self.base_env)
            note["detail"] = f"source {self.broken_sha[:12]} breaks {self.good_sha[:12]}; all on 127.0.0.1"

    # --- the golden path --------------------------------------------------------------------

    def _golden_path(self) -> None:
        alert = alertmanager_payload(f"{APP}-{ENV}")
        (self.workdir / "alert.json").write_text(json.dumps(alert, indent=2))
        with self.step("1 alert received (Alertmanager webhook)") as note:
            labels = alert["alerts"][0]["labels"]
            namespace, workload = labels["namespace"], f"deployment/{labels['deployment']}"
            note["detail"] = f"{labels['alertname']} on {workload} in {namespace}"
        common = ["--app", APP, "--env", ENV, "--incident-id", INCIDENT, "--minio-endpoint", self.minio_url,
                  "--minio-bucket", BUCKET, "--control-plane-url", self.control_plane_url]
        gitops = ["--repo", self.gitops_url, "--kube-api-egress", KUBE_API_EGRESS,
                  "--control-plane-egress", f"127.0.0.1/32:{urlsplit(self.control_plane_url).port}"]
        with self.step("2-3 Jenkins: gitops change for the Evidence Collector") as note:
            scheduled = self.tool("gitops-patcher", "schedule", "--agent", "evidence-collector", *common,
                                  "--image", IMAGES["evidence-collector"], "--workload", workload,
                                  "--time-window", "30m", *gitops)
            note["detail"] = f"run {scheduled['run']} committed as {scheduled['commit'][:12]}"
        with self.step("4 Argo CD runs the Evidence Collector Job") as note:
            collected = self.run_job(scheduled["run"], self.kube_env)
            note["detail"] = f"{collected['findings']} findings, {collected['files']} files"
        with self.step("5 snapshot in MinIO, callback to PathOps") as note:
            evidence = self.control_plane.last("/api/evidence/callback")
            snapshot_id, sha = evidence["snapshot_id"], evidence["source_commit_sha"]
            note["detail"] = f"{snapshot_id}, source commit {str(sha)[:12]}"
            if sha != self.broken_sha:
                raise NegativeOutcome(f"the collector found commit {sha}, not the deployed {self.broken_sha}")
        with self.step("6-7 Jenkins: fix-agent source at the exact commit (image content)") as note:
            # The real `fix-agent build-image` path (fetch over HTTP with the token, size cap, git archive,
            # build context); only its last step differs: the image's files land in a directory, no registry.
            rootfs = self.workdir / "fix-agent-image"
            shutil.rmtree(rootfs, ignore_errors=True)
            built = self.tool("fix-agent", "build-image", "--app", APP, "--source-repo", self.source_url,
                              "--source-commit-sha", sha, "--runtime-image", IMAGES["fix-agent-runtime"],
                              "--harbor-repo", FIX_AGENT_REPO, "--incident-id", INCIDENT, "--builder", "directory",
                              "--output-dir", str(rootfs),
                              "--scratch-dir", str(self.workdir / "jenkins" / "build-image"))
            source, image = rootfs / "workspace" / "source", str(built["tag"])
            note["detail"] = f"{sum(1 for p in source.rglob('*') if p.is_file())} files at {sha[:12]} -> {image}"
        with self.step("8 Jenkins: gitops change for the Fix Agent") as note:
            fix_run = self.tool("gitops-patcher", "schedule", "--agent", "fix-agent", *common, "--image", image,
                                "--snapshot-id", snapshot_id, *gitops)
            note["detail"] = f"run {fix_run['run']} committed as {fix_run['commit'][:12]}"
        with self.step("9 Argo CD runs the Fix Agent Job") as note:
            fixed = self.run_job(fix_run["run"], {"SOURCE_DIR": str(source), "SOURCE_COMMIT_SHA": sha, **CHECK_TIMINGS})
            note["detail"] = f"{fixed['status']}: {fixed['summary']}"
        with self.step("10 patch bundle in MinIO, callback to PathOps") as note:
            fix = self.control_plane.last("/api/fix/callback")
            note["detail"] = f"{fix['patch_id']} ({fix['status']})"
            if fix["status"] != "patch":
                raise NegativeOutcome(f"the fix agent found no fix: {fix['summary']}")
        with self.step("11-12 Jenkins: merge request from the patch bundle") as note:
            gitlab_url, project = self.gitlab_api_url, "shop/shop-frontend"
            if self.gitlab_url and self.gitlab_project:
                gitlab_url, project = self.gitlab_url, self.gitlab_project
                push_to_real_gitlab(self.source_bare, self.gitlab_url, self.gitlab_project, fetch=None)
            # The commit the fix callback names (the bundle names it too: the flag is a check).
            mr = self.tool("mr-creator", "create", "--src-repo", project,
                           "--source-commit-sha", fix["source_commit_sha"], "--patch-id", fix["patch_id"],
                           "--changeset-id", CHANGESET, "--gitlab-url",
                           gitlab_url, "--minio-endpoint", self.minio_url, "--minio-bucket", BUCKET,
                           "--callback-url", f"{self.control_plane_url}/webhooks/jenkins",
                           "--scratch-dir", str(self.workdir / "jenkins" / "mr-creator"),
                           env={"MR_FIELDS": mr_fields(alert, ENV)})
            webhook = self.control_plane.last("/webhooks/jenkins")
            if self.gitlab_url and self.gitlab_project:  # bring the MR branch back for the check below
                push_to_real_gitlab(self.source_bare, self.gitlab_url, self.gitlab_project, fetch=mr["branch"])
            note["detail"] = f"{mr['status']} {mr['mr_url']} on {mr['branch']}"
        with self.step("check: the patched app passes the probe that failed") as note:
            verdict = probe_check(self.source_bare, self.broken_sha, mr["head"], self.workdir / "check")
            note["detail"] = verdict["detail"]
            if not verdict["passed"]:
                raise NegativeOutcome(verdict["detail"])
        verified: dict[str, Any] = {}
        if self.kube_context is None and not self.gitlab_url:  # section 3 needs the simulated cluster and GitLab
            verified = self._preflight(fix["patch_id"], mr, common, gitops)
        diff = subprocess.run(["git", "-C", str(self.source_bare), "diff", sha, mr["head"]], capture_output=True,
                              text=True, check=True).stdout
        self.summary = {
            "incident_id": INCIDENT, "changeset_id": CHANGESET, "snapshot_id": snapshot_id,
            "patch_id": fix["patch_id"], "source_commit_sha": sha, "branch": mr["branch"], "mr_url": mr["mr_url"],
            "mr_status": mr["status"], "check": verdict, "diff": diff,
            "callbacks": [{"path": r.path, "payload": r.payload, "signature_valid": r.signature_valid}
                          for r in self.control_plane.received],
            "steps": [{"name": s.name, "seconds": round(s.seconds, 3), "detail": s.detail} for s in self.steps],
            "jenkins_webhook": webhook, **verified,
        }
        self._keep_artifacts()
        # The merge request as the GitLab stand-in holds it, for inspection.
        if not self.gitlab_url:
            (self.workdir / "merge_request.json").write_text(
                json.dumps(self.gitlab.projects[1].merge_requests, indent=2))

    def _preflight(self, patch_id: str, mr: dict[str, Any], common: list[str], gitops: list[str]) -> dict[str, Any]:
        """Seed section 3: deploy to preflight, verify with the checks the patch brought, update the MR."""
        namespace = f"{APP}-{ENV}"
        release_sha = mr["head"] if self.preflight == "patched" else self.broken_sha
        proxy = ServiceProxy()
        verification = new_verification_id()  # the control plane's id of this run, not the incident's
        with ExitStack() as stack:
            what = "the MR head" if self.preflight == "patched" else "the unfixed release"
            with self.step(f"13 Argo CD deploys {what} to {namespace}") as note:
                tree = self.workdir / "preflight" / release_sha[:12]
                checkout_commit(self.source_bare, release_sha, tree)
                release = stack.enter_context(running_release(tree, release_sha))
                synced = sync_to_cluster(self.cluster, namespace, release)
                proxy.routes[f"{APP}.{namespace}.svc"] = release.port
                proxy_url = stack.enter_context(BackgroundServer(proxy)).url
                note["detail"] = (f"{release_sha[:12]} runs; readiness {synced['probe']}; "
                                  f"{synced['ready_replicas']}/{synced['replicas']} ready")
            with self.step("14 Jenkins: gitops change for the Verification Agent (spec from the patch bundle)") as note:
                scheduled = self.tool("gitops-patcher", "schedule", "--agent", "verification-agent", *common,
                                      "--image", IMAGES["verification-agent"], "--verification-id", verification,
                                      "--patch-id", patch_id, "--expected-commit-sha", mr["head"], *gitops)
                note["detail"] = f"run {scheduled['run']} committed as {scheduled['commit'][:12]}"
            with self.step("15 Argo CD runs the Verification Agent Job") as note:
                # The pod reaches the Service by its cluster name; here through the "cluster network" proxy.
                network = {"HTTP_PROXY": proxy_url, "http_proxy": proxy_url, "NO_PROXY": "127.0.0.1,localhost",
                           "no_proxy": "127.0.0.1,localhost"}
                outcome = self.run_job(scheduled["run"], {**self.kube_env, **network}, accept=(0, 3, 7))
                note["detail"] = f"{outcome['status']}: " + ", ".join(f"{k} {v}" for k, v in outcome["checks"].items())
        with self.step("16 report in MinIO, callback to PathOps") as note:
            callback = self.control_plane.last("/api/verification/callback")
            note["detail"] = f"{callback['report_id']} ({callback['status']})"
        with self.step("17 Jenkins: update the merge request from the verification") as note:
            updated = self.tool("mr-creator", "update-from-verification", "--src-repo", "shop/shop-frontend",
                                "--mr-iid", str(mr["mr_url"]).rsplit("/", 1)[-1], "--report-id",
                                callback["report_id"], "--verification-id", verification, "--gitlab-url",
                                self.gitlab_api_url, "--minio-endpoint", self.minio_url, "--minio-bucket", BUCKET,
                                "--scratch-dir", str(self.workdir / "jenkins" / "mr-update"))
            note["detail"] = f"{updated['status']}: {'still Draft' if updated['draft'] else 'ready for review'}"
        return {"preflight": {"release": release_sha, **synced, "service_requests": proxy.requests},
                "verification_id": verification, "verification_status": callback["status"],
                "report_id": callback["report_id"], "mr_draft": updated["draft"], "mr_update": updated}

    def _keep_artifacts(self) -> None:
        """A copy of every artifact under <workdir>/artifacts/<its S3 key>, and the MR as GitLab holds it."""
        from pathops_runtime.artifact_store import StoreSettings, make_s3_client

        client = make_s3_client(StoreSettings(self.minio_url, BUCKET))
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                target = self.workdir / "artifacts" / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(BUCKET, item["Key"], str(target))

    def run_job(self, run: str, node: dict[str, str], accept: tuple[int, ...] = (0,)) -> dict[str, Any]:
        """What Argo CD and the kubelet do with the rendered Job, from the GitOps repository."""
        checkout = self.workdir / "argocd" / run
        shutil.rmtree(checkout, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "--depth", "1", self.gitops_bare.as_uri(), str(checkout)], check=True,
                       env={**self.base_env})
        job = YAML(typ="safe").load((checkout / "agents" / APP / "runs" / run / "job.yaml").read_text())
        container = job["spec"]["template"]["spec"]["containers"][0]
        env: dict[str, str] = {}
        for entry in container["env"]:
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                secret = SECRETS.get((ref["name"], ref["key"]))
                if secret is None and not ref.get("optional"):
                    raise UpstreamError(f"Job {run} needs Secret {ref['name']}/{ref['key']}")
                if secret is not None:
                    env[entry["name"]] = secret
        scratch = self.workdir / "jobs" / run / "scratch"  # the Job's emptyDir at /scratch
        scratch.mkdir(parents=True, exist_ok=True)
        configmap = checkout / "agents" / APP / "runs" / run / "configmap.yaml"
        if configmap.is_file():  # the spec ConfigMap, mounted read-only at /etc/pathops/verification
            mounted = self.workdir / "jobs" / run / "etc-pathops-verification" / "spec.yaml"
            mounted.parent.mkdir(parents=True, exist_ok=True)
            mounted.write_text(YAML(typ="safe").load(configmap.read_text())["data"]["spec.yaml"])
            env["VERIFICATION_SPEC"] = str(mounted)
        env.update({"SCRATCH_DIR": str(scratch), "TMPDIR": str(scratch), "HOME": str(scratch.parent)})
        env.update(node)
        return self.tool(job["metadata"]["labels"]["app.kubernetes.io/name"], *container["args"], env=env,
                         as_job=True, accept=accept)


def push_to_real_gitlab(bare: Path, gitlab_url: str, project_path: str, fetch: str | None) -> None:
    """Push the sample application to a project of a real GitLab (GITLAB_TOKEN), or fetch a branch back."""
    import gitlab

    from pathops_runtime.git_env import GitIdentity, git_environment

    token = os.environ["GITLAB_TOKEN"]
    url = str(gitlab.Gitlab(gitlab_url, private_token=token).projects.get(project_path).http_url_to_repo)
    env = git_environment(GitIdentity(), token=token, token_url=url)
    command = ["fetch", url, f"+{fetch}:{fetch}"] if fetch else ["push", "--force", url, "main:main"]
    subprocess.run(["git", "-C", str(bare), *command], env=env, check=True, capture_output=True)


def alertmanager_payload(namespace: str) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) as PathOps receives it."""
    starts = (datetime.now(UTC) - timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {"alertname": "KubeDeploymentReplicasMismatch", "severity": "warning", "namespace": namespace,
              "deployment": APP, "app": APP}
    return {"version": "4", "groupKey": "{}:{alertname=\"KubeDeploymentReplicasMismatch\"}", "status": "firing",
            "receiver": "pathops", "groupLabels": {"alertname": labels["alertname"]}, "commonLabels": labels,
            "commonAnnotations": {"summary": "Deployment has not matched the expected number of replicas."},
            "externalURL": "http://alertmanager.demo.pathops.io", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"description": f"Deployment {namespace}/{APP} has 1/3 ready replicas."},
                        "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.demo.pathops.io/graph", "fingerprint": "5b1c1f2a0d7e"}]}


def mr_fields(alert: dict[str, Any], environment: str) -> str:
    """The MR template fields of create-mr-from-patch, from the Alertmanager payload (MR_FIELDS)."""
    first = alert["alerts"][0]
    labels = first["labels"]
    fields = {"alertname": labels.get("alertname", ""), "severity": labels.get("severity", ""),
              "environment": environment, "namespace": labels.get("namespace", ""),
              "workload": f"deployment/{labels['deployment']}" if labels.get("deployment") else "",
              "startsAt": first.get("startsAt", ""),
              "description": first.get("annotations", {}).get("description", "")}
    return "\n".join(f"{key}={' '.join(str(value).split())}" for key, value in fields.items() if value)


def checkout_commit(bare: Path, sha: str, target: Path) -> None:
    """The tree at exactly that commit, without .git: what the fix-agent image embeds."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["git", "init", "-q", scratch], check=True)
        subprocess.run(["git", "-C", scratch, "fetch", "-q", "--depth=1", str(bare), sha], check=True)
        subprocess.run(["git", "-C", scratch, "checkout", "-q", "--detach", sha], check=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(scratch, target, ignore=shutil.ignore_patterns(".git"))


def probe_check(bare: Path, broken: str, patched: str, workdir: Path) -> dict[str, Any]:
    """Run app.py of each commit and request its readiness probe path: broken fails, patched passes."""
    results = {}
    for label, sha in (("broken", broken), ("patched", patched)):
        tree = workdir / label
        checkout_commit(bare, sha, tree)
        deployment = YAML(typ="safe").load((tree / "deploy" / "deployment.yaml").read_text())
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        with serving_app(tree / "app.py", probe["path"], what="the sample app") as (_, status):
            results[label] = (probe["path"], status)
    passed = results["broken"][1] != 200 and results["patched"][1] == 200
    detail = (f"probe {results['broken'][0]} -> HTTP {results['broken'][1]} before, "
              f"{results['patched'][0]} -> HTTP {results['patched'][1]} after")
    return {"passed": passed, "detail": detail, "before": results["broken"], "after": results["patched"]}


def _create_bucket(url: str, env: dict[str, str]) -> None:
    from pathops_runtime.artifact_store import ArtifactStore, StoreSettings

    os.environ.setdefault("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])
    ArtifactStore.from_settings(StoreSettings(url, BUCKET)).ensure_bucket()

"""The demo's source and GitOps repositories, and the cluster state the broken release produces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from pathops_testbed.git_repos import git, init_bare_repository
from pathops_testbed.kube_api import FakeKubernetes, StaticLog
from pathops_testbed.kube_objects import ago, endpoints, event, pod, replicaset, running, service

# The line of the sample's deploy/deployment.yaml that the breaking commit turns into /healthz.
HEALTHY_PROBE = "path: /health "
BREAKING_MESSAGE = "Standardize the health endpoint on /healthz\n\nOur platform convention is /healthz.\n"


def create_source_repository(example: Path, repos: Path) -> tuple[Path, str, str]:
    """shop/shop-frontend: the release that works, then the commit that breaks it. (bare, good, broken)."""
    bare = init_bare_repository(repos / "shop" / "shop-frontend.git")
    work = repos.parent / "work" / "shop-frontend"
    shutil.copytree(example, work)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Release 1.4.0 of the storefront", date="2026-11-20T09:00:00Z")
    good = git(work, "rev-parse", "HEAD")
    deployment = work / "deploy" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace(HEALTHY_PROBE, "path: /healthz"))
    git(work, "commit", "-q", "-am", BREAKING_MESSAGE, date="2026-11-27T08:40:00Z")
    broken = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/main")
    return bare, good, broken


def create_gitops_repository(repos: Path) -> Path:
    """shop/shop-frontend-gitops, holding the app's own manifests (Argo CD's source of truth)."""
    bare = init_bare_repository(repos / "shop" / "shop-frontend-gitops.git")
    work = repos.parent / "work" / "shop-frontend-gitops"
    (work / "apps" / "shop-frontend").mkdir(parents=True)
    (work / "apps" / "shop-frontend" / "kustomization.yaml").write_text(
        "resources:\n  - https://gitlab.demo.pathops.io/shop/shop-frontend//deploy?ref=main\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "GitOps repository of shop-frontend")
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/main")
    return bare


def _deployment_at(bare: Path, sha: str) -> dict[str, Any]:
    text = subprocess.run(["git", "-C", str(bare), "show", f"{sha}:deploy/deployment.yaml"], capture_output=True,
                          text=True, check=True).stdout
    loaded: dict[str, Any] = YAML(typ="safe").load(text)
    return loaded


def load_cluster(cluster: FakeKubernetes, bare: Path, good: str, broken: str, namespace: str) -> None:
    """What Argo CD's sync of the broken release leaves in the preflight namespace."""
    current = _deployment_at(bare, broken)
    previous = _deployment_at(bare, good)
    current["metadata"].update({"namespace": namespace, "uid": "uid-deploy-shop-frontend"})
    current["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2",
                                          "pathops.io/source-commit": broken}
    current["status"] = {"replicas": 3, "readyReplicas": 1, "updatedReplicas": 2,
                         "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
    template = current["spec"]["template"]["spec"]
    new_rs = replicaset(current, 2, template, replicas=2)
    old_rs = replicaset(current, 1, previous["spec"]["template"]["spec"], replicas=1, ready=1)
    # The Deployment controller copies the Deployment's annotations onto the ReplicaSet it creates:
    # the old ReplicaSet still names the commit of the last healthy rollout.
    for replicaset_obj, commit, created in ((new_rs, broken, ago(15)), (old_rs, good, ago(7 * 24 * 60))):
        replicaset_obj["metadata"]["annotations"]["pathops.io/source-commit"] = commit
        replicaset_obj["metadata"]["creationTimestamp"] = created
    cluster.add_all([current, new_rs, old_rs,
                     service("shop-frontend", namespace, {"app.kubernetes.io/name": "shop-frontend"}),
                     endpoints("shop-frontend", namespace, ready=["10.42.0.7"], not_ready=["10.42.0.8", "10.42.0.9"])])
    image = template["containers"][0]["image"]
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=14)
    for index in range(2):
        name = f"{new_rs['metadata']['name']}-{'xk2lp' if index else 'q8v4d'}"
        cluster.add(pod(name, new_rs, [running("web", image, ready=False)]))
        lines = [(start, "Starting shop-frontend on 0.0.0.0:8080")]
        for second in range(1, 160):
            path = "/healthz" if second % 2 else "/cart"
            lines.append((start + timedelta(seconds=5 * second), f"GET {path} {404 if path == '/healthz' else 200}"))
        cluster.set_log(namespace, name, "web", StaticLog(lines))
        cluster.add(event(namespace, "Pod", name, "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 404", 1, count=160,
                          field_path="spec.containers{web}"))
    old_name = f"{old_rs['metadata']['name']}-m2n7c"
    cluster.add(pod(old_name, old_rs, [running("web", image)], ready=True))
    cluster.set_log(namespace, old_name, "web", StaticLog(
        [(start, "Starting shop-frontend on 0.0.0.0:8080"), *((start + timedelta(seconds=5 * s), "GET /health 200")
                                                              for s in range(1, 160))]))


def broken_release_manifests(example: Path, scratch: Path, image: str, namespace: str) -> tuple[str, list[Any]]:
    """The broken commit's manifests as `make kind-up` applies them: (commit, objects).

    The demo's commits are reproducible (fixed identity and dates), so the commit deployed
    here is the one `pathops demo --kube-context` will find in the cluster.
    """
    bare, _, broken = create_source_repository(example, scratch / "gitlab")
    documents = []
    for name in ("deployment.yaml", "service.yaml"):
        text = subprocess.run(["git", "-C", str(bare), "show", f"{broken}:deploy/{name}"], capture_output=True,
                              text=True, check=True).stdout
        document = YAML(typ="safe").load(text)
        document["metadata"]["namespace"] = namespace
        if document["kind"] == "Deployment":
            document["metadata"].setdefault("annotations", {})["pathops.io/source-commit"] = broken
            container = document["spec"]["template"]["spec"]["containers"][0]
            container["image"], container["imagePullPolicy"] = image, "IfNotPresent"
        documents.append(document)
    return broken, documents

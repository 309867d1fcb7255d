"""Seed section 3 in the demo: a release deployed to preflight, really running, as the simulated cluster shows it.

"Argo CD" checks the release's commit out and starts its app.py (the sample app really runs the
code of that commit); "the kubelet" probes it with the release's own readinessProbe and records
the outcome in the simulated cluster (Deployment status, ReplicaSet, pods on that commit); "the
Service" is an HTTP proxy that routes `http://<service>.<namespace>.svc[:port]/...` to the
running app, as cluster DNS and kube-proxy would for a pod in the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from werkzeug import Request, Response

from pathops_testbed.kube_api import FakeKubernetes
from pathops_testbed.kube_objects import deployment, pod, replicaset, running
from pathops_testbed.loopback import free_port, wait_for_http

SOURCE_COMMIT = "pathops.io/source-commit"


class ServiceProxy:
    """WSGI HTTP proxy: requests for a Service's cluster name reach the process that serves it."""

    def __init__(self) -> None:
        self.routes: dict[str, int] = {}  # "<service>.<namespace>.svc[:port]" -> local port
        self.requests: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        host = request.host.lower().removesuffix(":80")
        self.requests.append(f"{request.method} http://{host}{request.full_path.rstrip('?')}")
        port = self.routes.get(host)
        if port is None:
            response = Response(f"no Service answers for {host}\n", status=502)
            return response(environ, start_response)
        target = f"http://127.0.0.1:{port}{request.full_path.rstrip('?')}"
        try:
            with urllib.request.urlopen(urllib.request.Request(target, method=request.method),
                                        timeout=10) as upstream:
                response = Response(upstream.read(), status=upstream.status,
                                    content_type=upstream.headers.get("Content-Type"))
        except urllib.error.HTTPError as error:
            response = Response(error.read(), status=error.code, content_type=error.headers.get("Content-Type"))
        except (urllib.error.URLError, OSError) as error:
            response = Response(f"upstream failed: {error}\n", status=503)
        return response(environ, start_response)


@dataclass
class Release:
    sha: str
    port: int
    deployment: dict[str, Any]  # deploy/deployment.yaml of that commit
    probe_path: str
    probe_status: int  # what the release's readiness probe got from the running app


@contextmanager
def serving_app(app: Path, probe_path: str, what: str = "the preflight app") -> Iterator[tuple[int, int]]:
    """The sample app's app.py running on a free loopback port: (port, HTTP status of GET probe_path)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(app)], env={**os.environ, "PORT": str(port), "LOCAL": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        yield port, wait_for_http(f"http://127.0.0.1:{port}{probe_path}", 10.0, what=f"{what} ({app.name})")
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def running_release(tree: Path, sha: str) -> Iterator[Release]:
    """The release at `tree` (a checkout of `sha`) running, probed as its readinessProbe says."""
    manifest: dict[str, Any] = YAML(typ="safe").load((tree / "deploy" / "deployment.yaml").read_text())
    probe = manifest["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    with serving_app(tree / "app.py", str(probe["path"])) as (port, status):
        yield Release(sha, port, manifest, str(probe["path"]), status)


def sync_to_cluster(cluster: FakeKubernetes, namespace: str, release: Release) -> dict[str, Any]:
    """What the cluster shows after Argo CD synced the release and the kubelet probed it."""
    manifest = release.deployment
    name = manifest["metadata"]["name"]
    template = manifest["spec"]["template"]["spec"]
    replicas = int(manifest["spec"].get("replicas", 1))
    ready = 200 <= release.probe_status < 400
    owner = deployment(name, namespace, template, revision=3, replicas=replicas, ready=replicas if ready else 0,
                       annotations={SOURCE_COMMIT: release.sha}, template_annotations={SOURCE_COMMIT: release.sha})
    owner["metadata"]["labels"].update(manifest["metadata"].get("labels") or {})
    owner["status"]["availableReplicas"] = replicas if ready else 0
    rs = replicaset(owner, 3, template, replicas=replicas, ready=replicas if ready else 0)
    rs["spec"]["template"]["metadata"]["annotations"] = {SOURCE_COMMIT: release.sha}
    image = template["containers"][0]["image"]
    cluster.remove_all("pods", namespace)  # the previous release's pods are gone
    cluster.add_all([owner, rs])
    for index in range(replicas):
        cluster.add(pod(f"{rs['metadata']['name']}-r{index}", rs,
                        [running(template["containers"][0]["name"], image, ready=ready)], ready=ready))
    return {"commit": release.sha, "ready_replicas": replicas if ready else 0, "replicas": replicas,
            "probe": f"{release.probe_path} -> HTTP {release.probe_status}"}

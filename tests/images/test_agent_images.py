"""The images `make images` builds, run as a cluster would run them (`make images-test`).

Each image runs as its own non-root user; the evidence collector's image reads the stand-in
Kubernetes API over loopback, writes its snapshot to a moto S3 server and calls the control
plane back, with a read-only kubeconfig and a tmpfs as its only writable place.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from golden_path.cli import EXAMPLE
from golden_path.sample_app import create_source_repository, load_cluster
from pathops_contracts import __version__
from pathops_runtime.artifact_store import ArtifactStore
from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig

STORAGE = os.environ.get("PATHOPS_IMAGES_BUILDAH_ROOT", "")
DRIVER = os.environ.get("PATHOPS_IMAGES_STORAGE_DRIVER", "vfs")
REGISTRY = os.environ.get("PATHOPS_IMAGES_REGISTRY", "harbor.demo.pathops.io/pathops")
pytestmark = [pytest.mark.images,
              pytest.mark.skipif(not STORAGE, reason="make images-test builds the images and sets "
                                                     "PATHOPS_IMAGES_BUILDAH_ROOT")]
# Image -> the CLIs it is for (the agents' images: their entrypoint).
IMAGES = {
    "evidence-collector": ["evidence-collector"],
    "fix-agent-runtime": ["fix-agent"],
    "verification-agent": ["verification-agent"],
    "jenkins-tools": ["gitops-patcher", "mr-creator", "fix-agent", "jenkins-notifier"],
}
BUILT = os.environ.get("PATHOPS_IMAGES", " ".join(IMAGES)).split()  # which of them make images-test built
NAMESPACE = "shop-frontend-preflight"
SIGNING_KEY = "images-test-signing-key"


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["buildah", "--root", f"{STORAGE}/root", "--runroot", f"{STORAGE}/run", "--storage-driver", DRIVER, *args]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:2])}: {result.stderr[-2000:]}")
    return result


def image_config(image: str) -> dict[str, object]:
    config: dict[str, object] = json.loads(buildah("inspect", "--type", "image", f"{REGISTRY}/{image}:{__version__}")
                                           .stdout)["Docker"]["config"]
    return config


@contextmanager
def container(image: str) -> Iterator[str]:
    name = buildah("from", "--pull-never", f"{REGISTRY}/{image}:{__version__}").stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name, check=False)


def run_as_image_user(name: str, user: str, command: list[str], env: dict[str, str] | None = None,
                      mounts: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    options = ["--user", f"{user}:{user}", "--network", "host", "--mount", "type=tmpfs,destination=/scratch"]
    for mount in mounts or []:
        options += ["--mount", mount]
    for key, value in (env or {}).items():
        options += ["--env", f"{key}={value}"]
    return buildah("run", *options, name, "--", *command, check=False)


@pytest.mark.parametrize("image", sorted(set(IMAGES) & set(BUILT)))
def test_each_image_runs_its_tools_as_a_non_root_user(image: str) -> None:
    config = image_config(image)
    user = str(config["User"])
    assert user.isdigit() and int(user) >= 1000, f"{image} runs as {user!r}"
    entrypoint = config.get("Entrypoint") or []
    assert entrypoint in ([], IMAGES[image][:1])
    # One run (a container's tmpfs is set up right on its first run only): who it is, where it may
    # write (only the scratch tmpfs: not the venv, not /), what each tool says it is.
    script = ('id -u && touch /scratch/ok && ! touch /opt/pathops/x 2>/dev/null && ! touch /x 2>/dev/null '
              '&& for tool in "$@"; do "$tool" --version; done')
    with container(image) as name:
        result = run_as_image_user(name, user, ["sh", "-c", script, "sh", *IMAGES[image]])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [user, *(f"{tool}, version {__version__}" for tool in IMAGES[image])]


@pytest.mark.skipif("fix-agent-runtime" not in BUILT, reason="fix-agent-runtime was not built")
def test_the_fix_agent_runtime_renders_a_kustomize_overlay_as_its_user() -> None:
    # The fix agent proves each patch on what the repository deploys: without kustomize in the image,
    # every kustomize repository would end in no_fix.
    script = ('mkdir -p /scratch/base /scratch/prod && cd /scratch '
              '&& printf "apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: app\\ndata:\\n  mode: dev\\n" '
              '> base/cm.yaml '
              '&& printf "resources:\\n- cm.yaml\\n" > base/kustomization.yaml '
              '&& printf "resources:\\n- ../base\\nnamePrefix: prod-\\n" > prod/kustomization.yaml '
              '&& kubectl kustomize prod')
    with container("fix-agent-runtime") as name:
        result = run_as_image_user(name, str(image_config("fix-agent-runtime")["User"]), ["sh", "-c", script])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "name: prod-app" in result.stdout and "mode: dev" in result.stdout


@pytest.mark.skipif("evidence-collector" not in BUILT, reason="evidence-collector was not built")
def test_the_evidence_collector_image_snapshots_the_stand_in_cluster_into_s3(
        s3_endpoint: str, artifact_store: ArtifactStore, bucket_name: str, tmp_path: Path) -> None:
    bare, good, broken = create_source_repository(EXAMPLE, tmp_path / "gitlab")
    cluster = FakeKubernetes()
    load_cluster(cluster, bare, good, broken, NAMESPACE)
    receiver = ControlPlaneReceiver(SIGNING_KEY)
    user = str(image_config("evidence-collector")["User"])
    with BackgroundServer(cluster) as kube, BackgroundServer(receiver) as control_plane, \
            container("evidence-collector") as name:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url, NAMESPACE)
        kubeconfig.chmod(0o644)
        env = {"INCIDENT_ID": "INC-7", "APP_ID": "shop-frontend", "TARGET_NAMESPACE": NAMESPACE,
               "AGENTS_NAMESPACE": "shop-frontend-agents", "TIME_WINDOW": "30m",
               "WORKLOAD": "deployment/shop-frontend", "KUBECONFIG": "/etc/pathops/kubeconfig",
               "MINIO_ENDPOINT": s3_endpoint, "MINIO_BUCKET": bucket_name,
               "AWS_ACCESS_KEY_ID": "pathops-test", "AWS_SECRET_ACCESS_KEY": "pathops-test-secret",
               "CONTROL_PLANE_CALLBACK_URL": f"{control_plane.url}/api/evidence/callback",
               "CALLBACK_SIGNING_KEY": SIGNING_KEY, "SCRATCH_DIR": "/scratch", "TMPDIR": "/scratch"}
        result = run_as_image_user(name, user, ["evidence-collector", "collect"], env,
                                   [f"type=bind,source={kubeconfig},destination=/etc/pathops/kubeconfig,ro"])
    assert result.returncode == 0, result.stderr[-3000:]
    announced = json.loads(result.stdout)
    (callback,) = receiver.received
    assert callback.signature_valid and callback.payload["snapshot_id"] == announced["snapshot_id"]
    assert callback.payload["source_commit_sha"] == broken
    stored = artifact_store.get(announced["snapshot_id"], tmp_path / "snapshot.tar.gz")
    assert stored.uri == announced["bundle"]
    with tarfile.open(tmp_path / "snapshot.tar.gz") as bundle:
        member = bundle.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
    assert manifest["incident_id"] == "INC-7" and manifest["target_namespace"] == NAMESPACE
    assert manifest["source"]["commit_sha"] == broken

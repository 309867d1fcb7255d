"""fix-agent build-image against a real registry (Debian's docker-registry) with buildah and skopeo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fix_agent.image_build import DockerBuilder, ImageOrder, Registry, build_context, fetch_source
from pathops_contracts.errors import UpstreamError
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.git_repos import git, make_source_remote
from pathops_testbed.oci_registry import oci_registry, push_busybox_image

RUNTIME = "pathops/fix-agent-runtime:0.1.0"


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{missing} missing: `make test` installs them (scripts/install-system-deps.sh)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """docker-registry on 127.0.0.1 holding a runtime image built FROM scratch with busybox."""
    _need("docker-registry", "buildah", "skopeo", "busybox")
    root = tmp_path_factory.mktemp("registry")
    with oci_registry(root) as address:
        push_busybox_image(f"{address}/{RUNTIME}", root, labels={"org.opencontainers.image.version": "0.1.0"})
        yield address


def build(registry: str, remote: Path, sha: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_ID": "shop-frontend", "SOURCE_REPO": remote.as_uri(), "SOURCE_COMMIT_SHA": sha,
           "RUNTIME_IMAGE": f"{registry}/{RUNTIME}", "HARBOR_REPO": f"{registry}/pathops/agents",
           "INCIDENT_ID": "INC-1042", "REGISTRY_TLS_VERIFY": "false", "SCRATCH_DIR": str(tmp_path / "scratch"),
           "IMAGE_REF_FILE": str(tmp_path / "image.txt")}
    return subprocess.run([str(Path(sys.executable).parent / "fix-agent"), "build-image", *extra], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)


def inspect(reference: str, raw: bool = False) -> dict[str, object]:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *(["--raw"] if raw else []),
                          f"docker://{reference}"], capture_output=True, text=True, check=True).stdout
    parsed: dict[str, object] = json.loads(out)
    return parsed


def source_layer_files(reference: str, where: Path) -> dict[str, tarfile.TarInfo]:
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{reference}", f"dir:{where}"],
                   check=True, capture_output=True)
    manifest = json.loads((where / "manifest.json").read_text())
    last = manifest["layers"][-1]["digest"].split(":", 1)[1]
    with tarfile.open(where / last) as layer:
        return {member.name: member for member in layer.getmembers()}


def test_build_push_inspect_and_reuse(registry: str, tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    first = build(registry, remote, sha, tmp_path)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["reused"] is False
    assert out["tag"] == f"{registry}/pathops/agents/fix-shop-frontend:{sha[:12]}-0.1.0"
    assert out["image"] == f"{registry}/pathops/agents/fix-shop-frontend@{out['digest']}"
    assert (tmp_path / "image.txt").read_text() == out["image"] + "\n"
    image = inspect(out["tag"])
    labels = image["Labels"]
    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.source"] == remote.as_uri()
    assert labels["org.opencontainers.image.version"] == f"{sha[:12]}-0.1.0"
    assert labels["io.pathops.incident-id"] == "INC-1042"
    assert f"SOURCE_COMMIT_SHA={sha}" in image["Env"]  # type: ignore[operator]
    files = source_layer_files(out["tag"], tmp_path / "layer")
    sources = sorted(name for name in files if name.startswith("workspace/source/") and files[name].isfile())
    assert sources == ["workspace/source/app.py", "workspace/source/deploy/deployment.yaml"]
    assert not any(".git" in name.split("/") for name in files)
    commit_time = int(git(remote, "show", "-s", "--format=%ct", sha))
    assert {files[name].mtime for name in sources} == {commit_time}
    # A second incident on the same SHA: no build, the same digest, in seconds.
    again = build(registry, remote, sha, tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {**out, "reused": True}


def test_a_rebuild_of_the_same_sha_gives_the_same_source_layer(registry: str, tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    first = json.loads(build(registry, remote, sha, tmp_path / "a").stdout)
    layers_first = [layer["digest"] for layer in inspect(first["tag"], raw=True)["layers"]]  # type: ignore[index]
    second = build(registry, remote, sha, tmp_path / "b", "--force")
    assert second.returncode == 0, second.stderr
    layers_second = [layer["digest"] for layer in inspect(first["tag"], raw=True)["layers"]]  # type: ignore[index]
    assert json.loads(second.stdout)["reused"] is False
    assert layers_first[-1] == layers_second[-1]


def test_another_commit_is_another_image(registry: str, tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True,
                   env=git_environment(GitIdentity()))
    (work / "app.py").write_text("ROUTES = ['/health', '/ready']\n")
    git(work, "commit", "-qam", "Add /ready")
    git(work, "push", "-q", "origin", "HEAD:main")
    newer = git(work, "rev-parse", "HEAD")
    out = json.loads(build(registry, remote, newer, tmp_path).stdout)
    assert newer != sha
    assert out["reused"] is False and newer[:12] in out["tag"] and sha[:12] not in out["tag"]


def test_a_commit_that_does_not_exist_is_exit_2(registry: str, tmp_path: Path) -> None:
    remote, _ = make_source_remote(tmp_path / "repos")
    result = build(registry, remote, "e" * 40, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "does not exist" in result.stderr.strip().splitlines()[-1]


def test_a_source_tree_over_the_cap_is_exit_4(registry: str, tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    result = build(registry, remote, sha, tmp_path, "--max-source-bytes", "100", "--force")
    assert result.returncode == 4
    assert "at most 100 go into an image" in result.stderr


def test_docker_builder_takes_the_same_context(tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    order = ImageOrder("shop-frontend", remote.as_uri(), sha, "harbor/pathops/fix-agent-runtime:0.1.0",
                       "harbor/pathops/agents")
    source, commit_time = fetch_source(order, tmp_path / "s", git_environment(GitIdentity()))
    context = build_context(order, source, commit_time, "0.1.0", tmp_path / "context.tar")
    with tarfile.open(context) as archive:
        assert sorted(archive.getnames()) == ["Containerfile", "Dockerfile", "source.tar"]
        dockerfile = archive.extractfile("Dockerfile").read().decode()  # type: ignore[union-attr]
    assert dockerfile.startswith("FROM harbor/pathops/fix-agent-runtime:0.1.0\nADD source.tar /\n")
    assert f'LABEL org.opencontainers.image.revision="{sha}"' in dockerfile
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        with pytest.raises(UpstreamError, match="no Docker Engine"):
            DockerBuilder().build_and_push(context, "127.0.0.1:9/x/y:z", Registry(), commit_time)


@pytest.mark.real
@pytest.mark.skipif(not os.environ.get("DOCKER_HOST"), reason="set DOCKER_HOST to a Docker Engine")
def test_docker_builder_against_a_real_engine(registry: str, tmp_path: Path) -> None:
    remote, sha = make_source_remote(tmp_path / "repos")
    result = build(registry, remote, sha, tmp_path, "--builder", "docker")
    assert result.returncode == 0, result.stderr


def test_the_directory_builder_writes_what_the_image_adds_without_a_registry(tmp_path: Path) -> None:
    """What the demo runs: the real fetch, cap and archive; the image's files land in a directory."""
    remote, sha = make_source_remote(tmp_path / "repos")
    env = {**os.environ, "APP_ID": "shop-frontend", "SOURCE_REPO": remote.as_uri(), "SOURCE_COMMIT_SHA": sha,
           "RUNTIME_IMAGE": "harbor.example/pathops/fix-agent-runtime:0.1.0",
           "HARBOR_REPO": "harbor.example/pathops/agents", "SCRATCH_DIR": str(tmp_path / "scratch")}
    command = [str(Path(sys.executable).parent / "fix-agent"), "build-image", "--builder", "directory",
               "--output-dir", str(tmp_path / "rootfs")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"image": None, "tag": f"harbor.example/pathops/agents/fix-shop-frontend:"
                                         f"{sha[:12]}-0.1.0", "digest": None, "reused": False,
                                         "directory": str(tmp_path / "rootfs")}
    source = tmp_path / "rootfs" / "workspace" / "source"
    assert sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()) == [
        "app.py", "deploy/deployment.yaml"]
    again = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=120, check=False)
    assert again.returncode == 2 and "is not empty" in again.stderr.strip().splitlines()[-1]

"""The per-incident Fix Agent image: runtime image + the source at exactly one commit.

The build context is the same for both builders: a Containerfile and `source.tar`, made by
`git archive` of the single fetched commit (sorted, fixed owner and modes, every mtime the
commit time, no .git), so the same SHA gives the same source layer. An image whose tag
already exists with the expected labels is reused without a build.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pathops_contracts.errors import ContractViolation, Forbidden, InvalidInput, UpstreamError
from pathops_runtime.source_commit import fetch_commit

log = logging.getLogger(__name__)

MAX_SOURCE_BYTES = 200 * 1024 * 1024
DOCKER_API_VERSION = "1.41"
SOURCE_PATH = "/workspace/source"


@dataclass(frozen=True)
class ImageOrder:
    app: str
    source_repo: str
    source_commit_sha: str
    runtime_image: str
    harbor_repo: str
    incident_id: str | None = None

    @property
    def runtime_version(self) -> str:
        tail = self.runtime_image.split("@")[0].rsplit("/", 1)[-1]
        return tail.split(":", 1)[1] if ":" in tail else "latest"

    @property
    def reference(self) -> str:
        """`<harbor_repo>/fix-<app>:<sha12>-<runtime version>`."""
        return f"{self.harbor_repo}/fix-{self.app}:{self.source_commit_sha[:12]}-{self.runtime_version}"

    def labels(self, tool_version: str) -> dict[str, str]:
        labels = {
            "org.opencontainers.image.revision": self.source_commit_sha,
            "org.opencontainers.image.source": self.source_repo,
            "org.opencontainers.image.version": f"{self.source_commit_sha[:12]}-{self.runtime_version}",
            "org.opencontainers.image.title": f"fix-{self.app}",
            "org.opencontainers.image.base.name": self.runtime_image,
            "io.pathops.app": self.app,
            "io.pathops.fix-agent.version": tool_version,
        }
        if self.incident_id:
            labels["io.pathops.incident-id"] = self.incident_id
        return labels


# Labels that must match for an existing image to be reused (the incident may differ).
REUSE_LABELS = ("org.opencontainers.image.revision", "org.opencontainers.image.base.name", "io.pathops.app")


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, check=False)


def fetch_source(order: ImageOrder, scratch: Path, env: Mapping[str, str],
                 max_bytes: int = MAX_SOURCE_BYTES) -> tuple[Path, int]:
    """Fetch exactly the commit (depth 1) and archive its tree; returns (source.tar, commit time).

    The fetch and its errors are the shared ones (`pathops_runtime.source_commit`): a missing
    commit is exit 2, a refused token 6, an unreachable remote 5, as in mr-creator.
    """
    repo = fetch_commit(order.source_repo, order.source_commit_sha, scratch / "git", env, checkout=False)
    sizes = _git(["ls-tree", "-r", "-l", "--full-tree", order.source_commit_sha], repo, env)
    total = sum(int(parts[3]) for line in sizes.stdout.decode().splitlines()
                if len(parts := line.split(None, 4)) == 5 and parts[3].isdigit())
    if total > max_bytes:
        raise ContractViolation(f"the source tree at {order.source_commit_sha[:12]} is {total} bytes; "
                                f"at most {max_bytes} go into an image")
    commit_time = int(_git(["show", "-s", "--format=%ct", order.source_commit_sha], repo, env).stdout.decode())
    archive = scratch / "source.tar"
    result = _git(["archive", "--format=tar", f"--prefix={SOURCE_PATH.lstrip('/')}/", f"--output={archive}",
                   order.source_commit_sha], repo, env)
    if result.returncode != 0:
        raise UpstreamError(f"git archive failed: {result.stderr.decode(errors='replace')[:300]}")
    return archive, commit_time


def containerfile(order: ImageOrder, tool_version: str) -> str:
    """The Containerfile of the build context; values are quoted JSON strings, never raw text."""
    lines = [f"FROM {order.runtime_image}", "ADD source.tar /",
             f"ENV SOURCE_COMMIT_SHA={order.source_commit_sha} SOURCE_DIR={SOURCE_PATH}",
             f"WORKDIR {SOURCE_PATH}"]
    lines += [f"LABEL {key}={json.dumps(value)}" for key, value in sorted(order.labels(tool_version).items())]
    return "\n".join(lines) + "\n"


def build_context(order: ImageOrder, source_tar: Path, commit_time: int, tool_version: str,
                  destination: Path) -> Path:
    """The context tar both builders take: Containerfile (also as Dockerfile) and source.tar."""
    text = containerfile(order, tool_version).encode()
    with tarfile.open(destination, "w", format=tarfile.PAX_FORMAT) as context:
        for name in ("Containerfile", "Dockerfile"):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(text), commit_time, 0o644
            context.addfile(info, io.BytesIO(text))
        info = context.gettarinfo(str(source_tar), arcname="source.tar")
        info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = commit_time, 0, 0, "", "", 0o644
        with source_tar.open("rb") as handle:
            context.addfile(info, handle)
    return destination


@dataclass(frozen=True)
class Registry:
    """How to reach the registry: credentials (REGISTRY_USERNAME/PASSWORD) and TLS verification."""

    username: str | None = None
    password: str | None = None
    tls_verify: bool = True

    def creds(self) -> list[str]:
        return [f"--creds={self.username}:{self.password}"] if self.username and self.password else []


def existing_image(reference: str, registry: Registry) -> dict[str, object] | None:
    """skopeo inspect of a tag: its digest and labels, or None when the tag does not exist."""
    result = subprocess.run(["skopeo", "inspect", f"--tls-verify={str(registry.tls_verify).lower()}",
                             *registry.creds(), f"docker://{reference}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if "manifest unknown" in result.stderr or "not found" in result.stderr.lower():
            return None
        if "unauthorized" in result.stderr.lower() or "denied" in result.stderr.lower():
            raise Forbidden(f"the registry refused to show {reference}: {result.stderr.strip()[-200:]}")
        raise UpstreamError(f"skopeo inspect {reference} failed: {result.stderr.strip()[-300:]}")
    inspected: dict[str, object] = json.loads(result.stdout)
    return inspected


class Builder(Protocol):
    name: str
    pushes: bool  # False: nothing goes to a registry, so there is no image there to reuse

    def build_and_push(self, context: Path, reference: str, registry: Registry, timestamp: int) -> str:
        """Build the context, push it as reference; returns the pushed manifest digest."""
        ...


@dataclass
class BuildahBuilder:
    """Daemonless: for Jenkins agents running as Kubernetes pods."""

    storage: Path
    name: str = "buildah"
    pushes: bool = True

    def _buildah(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["buildah", "--root", str(self.storage / "root"), "--runroot", str(self.storage / "runroot"),
                   "--storage-driver", "vfs", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def build_and_push(self, context: Path, reference: str, registry: Registry, timestamp: int) -> str:
        tls = f"--tls-verify={str(registry.tls_verify).lower()}"
        built = self._buildah("bud", "--quiet", "--isolation", "chroot", "--timestamp", str(timestamp), tls,
                              *registry.creds(), "--layers=false", "-f", "Containerfile", "-t", reference,
                              self._unpacked(context))
        if built.returncode != 0:
            raise UpstreamError(f"buildah bud failed: {built.stderr.strip()[-400:]}")
        digest_file = context.parent / "digest"
        pushed = self._buildah("push", "--quiet", tls, *registry.creds(), "--digestfile", str(digest_file), reference,
                               f"docker://{reference}")
        if pushed.returncode != 0:
            if "unauthorized" in pushed.stderr.lower() or "denied" in pushed.stderr.lower():
                raise Forbidden(f"the registry refused the push of {reference}")
            raise UpstreamError(f"buildah push failed: {pushed.stderr.strip()[-400:]}")
        return digest_file.read_text().strip()

    @staticmethod
    def _unpacked(context: Path) -> str:
        folder = context.parent / "context"
        folder.mkdir(exist_ok=True)
        with tarfile.open(context) as archive:
            archive.extractall(folder, filter="data")
        return str(folder)


@dataclass
class DockerBuilder:
    """The Docker Engine through the docker SDK: for Jenkins agents with a Docker socket."""

    name: str = "docker"
    pushes: bool = True

    def build_and_push(self, context: Path, reference: str, registry: Registry, timestamp: int) -> str:
        import docker
        from docker.errors import APIError, BuildError, DockerException

        if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
            # Checked here: docker-py leaks its socket when the engine is missing.
            raise UpstreamError("no Docker Engine: DOCKER_HOST is not set and /var/run/docker.sock does not exist; "
                                "use --builder buildah")
        client = None
        try:
            # A fixed API version: "auto" negotiates in the constructor and leaks the socket when
            # no engine answers. 1.41 is Docker Engine 20.10, the oldest with what we use.
            client = docker.from_env(version=DOCKER_API_VERSION)
            with context.open("rb") as handle:
                client.images.build(fileobj=handle, custom_context=True, tag=reference, rm=True, pull=True)
            auth = {"username": registry.username, "password": registry.password} if registry.username else None
            repository, tag = reference.rsplit(":", 1)
            for line in client.images.push(repository, tag=tag, auth_config=auth, stream=True, decode=True):
                if "error" in line:
                    raise UpstreamError(f"docker push failed: {line['error']}")
            digests = client.images.get(reference).attrs.get("RepoDigests", [])
        except (BuildError, APIError, DockerException) as error:
            raise UpstreamError(f"docker build/push failed: {error}") from error
        finally:
            if client is not None:
                client.close()
        digest = next((d.split("@", 1)[1] for d in digests if d.startswith(repository)), None)
        if digest is None:
            raise UpstreamError(f"docker pushed {reference} but reported no digest")
        return str(digest)


@dataclass
class DirectoryBuilder:
    """No image: the files the image adds (`ADD source.tar /`) written under `root`, for the demo
    and local runs without a registry. The same fetch, size cap and archive as a real build."""

    root: Path
    name: str = "directory"
    pushes: bool = False

    def build_and_push(self, context: Path, reference: str, registry: Registry, timestamp: int) -> str:
        if self.root.exists() and any(self.root.iterdir()):
            raise InvalidInput(f"{self.root} is not empty; the image's files go into an empty directory")
        self.root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(context) as outer:
            source = outer.extractfile("source.tar")
            if source is None:
                raise ContractViolation("the build context has no source.tar")
            with tarfile.open(fileobj=source) as archive:
                archive.extractall(self.root, filter="data")
        return ""


@dataclass(frozen=True)
class BuildResult:
    reference: str
    digest: str
    reused: bool

    @property
    def pinned(self) -> str:
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


def build_fix_agent_image(order: ImageOrder, builder: Builder, registry: Registry, scratch: Path,
                          git_env: Mapping[str, str], tool_version: str, force: bool = False,
                          max_source_bytes: int = MAX_SOURCE_BYTES) -> BuildResult:
    """Reuse the image of this SHA and runtime when it exists with the expected labels, else build and push."""
    if not force and builder.pushes:
        found = existing_image(order.reference, registry)
        labels = found.get("Labels") if found else None
        expected = order.labels(tool_version)
        if isinstance(labels, dict) and all(labels.get(k) == expected[k] for k in REUSE_LABELS):
            log.info("image exists with the expected labels; reusing it", extra={"image": order.reference})
            return BuildResult(order.reference, str(found["Digest"]) if found else "", reused=True)
    source_tar, commit_time = fetch_source(order, scratch, git_env, max_source_bytes)
    context = build_context(order, source_tar, commit_time, tool_version, scratch / "context.tar")
    digest = builder.build_and_push(context, order.reference, registry, commit_time)
    return BuildResult(order.reference, digest, reused=False)

"""GitLab's repositories stand-in: real bare repositories, and the small storefront they hold in tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pathops_runtime.git_env import GitIdentity, git_environment

DEVELOPER = GitIdentity("Dana Developer", "dana@shop.example")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-frontend  # the storefront
spec:
  template:
    spec:
      containers:
        - name: web
          image: harbor.demo.pathops.io/shop/shop-frontend:1.4.0
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
"""


def git(cwd: Path, *args: str, identity: GitIdentity = DEVELOPER, date: str | None = None) -> str:
    """Run git in cwd as `identity` (no user or system config); its stdout, stripped."""
    env = git_environment(identity, commit_date=date)
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def init_bare_repository(path: Path, default_branch: str = "main", *, allow_filter: bool = True) -> Path:
    """A bare repository that accepts pushes over HTTP, fetches of any reachable commit and, as GitLab's
    Gitaly does, partial fetches (`--filter=blob:none`; `allow_filter=False` for a server without them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", f"--initial-branch={default_branch}", str(path)], check=True)
    settings = [("http.receivepack", "true"), ("uploadpack.allowReachableSHA1InWant", "true")]
    if allow_filter:
        settings.append(("uploadpack.allowFilter", "true"))
    for key, value in settings:
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    return path


def make_source_remote(root: Path, files: dict[str, str] | None = None) -> tuple[Path, str]:
    """shop/shop-frontend under root: a bare repository with one commit of a small app; (bare path, sha)."""
    bare = init_bare_repository(root / "shop" / "shop-frontend.git")
    work = root / "seed-work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for name, text in (files or {"deploy/deployment.yaml": DEPLOYMENT, "app.py": "ROUTES = ['/health']\n"}).items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial storefront", date="2026-11-01T10:00:00Z")
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/main")
    return bare, git(work, "rev-parse", "HEAD")


def fix_probe_path(work: Path) -> None:
    """The fix of the storefront's broken readiness probe: /healthz -> /health."""
    path = work / "deploy" / "deployment.yaml"
    path.write_text(path.read_text().replace("path: /healthz", "path: /health"))

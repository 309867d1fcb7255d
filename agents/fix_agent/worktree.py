"""A scratch git work tree over the embedded source, where a fix becomes one commit and a patch.

The image carries the tree at the source commit without .git. A fresh repository made
from that tree has the same blob ids as the real one (a blob id depends only on the
content), so `git format-patch --full-index` output applies with `git am --3way` on a
real checkout of the commit, which is what mr-creator does.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from git import Repo
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pathops_contracts.errors import ContractViolation, InvalidInput
from pathops_contracts.patch_policy import PolicyLimits, violations
from pathops_runtime.git_env import GitIdentity, changes_between, git_environment

FIX_AGENT = GitIdentity("PathOps Fix Agent", "fix-agent@pathops.io")
MAX_SOURCE_BYTES = 500 * 1024 * 1024


def copy_tree(source: Path, target: Path, max_bytes: int = MAX_SOURCE_BYTES) -> None:
    """Copy the source tree without .git, refusing links that leave it and trees over the cap."""
    total = 0
    for path in source.rglob("*"):
        if ".git" in path.relative_to(source).parts:
            continue
        if path.is_symlink():
            resolved = path.resolve()
            if not resolved.is_relative_to(source.resolve()):
                raise InvalidInput(f"{path.relative_to(source)} links outside the source tree")
        elif path.is_file():
            total += path.stat().st_size
            if total > max_bytes:
                raise InvalidInput(f"source tree is over {max_bytes} bytes")
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))


@dataclass
class Worktree:
    root: Path
    base: str
    env: dict[str, str]

    @classmethod
    def create(cls, source: Path, scratch: Path, commit_date: str) -> Worktree:
        if not source.is_dir():
            raise InvalidInput(f"source directory {source} does not exist")
        root = scratch / "worktree"
        copy_tree(source, root)
        env = git_environment(FIX_AGENT, commit_date=commit_date)
        tree = cls(root, "", env)
        tree.git("init", "-q", "-b", "base")
        tree.git("add", "-A", "-f")
        tree.git("commit", "-q", "--allow-empty", "-m", "source at the incident's commit")
        tree.base = tree.git("rev-parse", "HEAD")
        return tree

    def git(self, *args: str, raw: bool = False) -> str:
        result = subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise ContractViolation(f"git {args[0]} failed in the work tree: {result.stderr.strip()[:300]}")
        return result.stdout if raw else result.stdout.strip()

    def read(self, relative: str) -> str:
        return self.path(relative).read_text(encoding="utf-8")

    def path(self, relative: str) -> Path:
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root.resolve()) or ".git" in Path(relative).parts:
            raise ContractViolation(f"{relative} is outside the work tree")
        return target

    def write(self, relative: str, text: str) -> None:
        self.path(relative).write_text(text, encoding="utf-8")

    def reset(self) -> None:
        self.git("reset", "-q", "--hard", self.base)
        self.git("clean", "-q", "-fdx")

    def changed_files(self) -> list[str]:
        out = self.git("status", "--porcelain", "-z", "--untracked-files=all", raw=True)  # "XY path", unstripped
        return sorted(entry[3:] for entry in out.split("\0") if entry)

    def check_syntax(self, files: list[str]) -> list[str]:
        """Syntax problems of the changed files: YAML parses, JSON parses, Python compiles."""
        problems = []
        for name in files:
            path = self.root / name
            if not path.exists():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            try:
                if name.endswith((".yaml", ".yml")) and "{{" not in text:  # Helm templates are not YAML
                    list(YAML(typ="safe").load_all(text))
                elif name.endswith(".json"):
                    json.loads(text)
                elif name.endswith(".py"):
                    ast.parse(text, filename=name)
            except (YAMLError, ValueError, SyntaxError) as error:
                problems.append(f"{name}: {str(error).splitlines()[0][:200]}")
        return problems

    def commit(self, message: str, limits: PolicyLimits) -> str:
        """Commit every change as one commit, after the patch policy agreed; returns the mbox text."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        mbox = self.git("format-patch", "--full-index", "--stdout", f"{self.base}..HEAD") + "\n"
        repo = Repo(self.root)
        repo.git.update_environment(**self.env)
        problems = violations(changes_between(repo, self.base, "HEAD"), len(mbox.encode()), limits)
        if problems:
            self.git("reset", "-q", "--hard", self.base)
            raise ContractViolation("patch policy refused the change: " + "; ".join(problems))
        return mbox


def verify_applies(source: Path, mbox: str, scratch: Path, commit_date: str) -> None:
    """Apply the patch with `git am --3way` to a fresh copy of the source: it must apply cleanly."""
    fresh = Worktree.create(source, scratch / "verify", commit_date)
    patch = scratch / "verify.mbox"
    patch.write_text(mbox, encoding="utf-8")
    result = subprocess.run(["git", "am", "--3way", str(patch)], cwd=fresh.root, env=fresh.env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContractViolation(f"the patch does not apply to a fresh checkout: {result.stderr.strip()[:300]}")

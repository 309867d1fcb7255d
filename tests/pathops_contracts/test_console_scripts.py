"""Every console script of the distribution starts and documents its environment variables."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def test_the_tools_and_the_demo_are_declared() -> None:
    assert sorted(["evidence-collector", "fix-agent", "verification-agent", "gitops-patcher", "mr-creator",
                   "jenkins-notifier", "pathops"]) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_works_without_a_tty_or_home(script: str) -> None:
    result = subprocess.run([str(Path(sys.executable).parent / script), "--help"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert "[env var: PATHOPS_VERBOSE]" in result.stdout


def test_subcommand_help_names_the_seed_variables() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "mr-creator"), "create", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    text = " ".join(result.stdout.split())
    for variable in ("SRC_REPO", "SOURCE_COMMIT_SHA", "PATCH_ID", "CHANGESET_ID", "GITLAB_URL", "MINIO_ENDPOINT",
                     "MINIO_BUCKET", "CONTROL_PLANE_CALLBACK_URL", "CALLBACK_SIGNING_KEY"):
        assert f"env var: {variable}" in text

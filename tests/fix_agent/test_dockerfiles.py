"""The agent images' Dockerfiles: checkov passes, every image carries the OCI labels and runs non-root."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.manifest_checks import CHECKOV

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))


def test_checkov_passes_on_every_dockerfile() -> None:
    if not CHECKOV.exists():
        pytest.fail("checkov is missing: `make test` installs it into .venv-checkov")
    result = subprocess.run([str(CHECKOV), "-d", str(ROOT / "images"), "--framework", "dockerfile", "--quiet",
                             "--compact", "--skip-download", "--output", "json"], capture_output=True, text=True,
                            timeout=300, check=False)
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    assert report["summary"]["resource_count"] >= len(DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_oci_labels_and_a_non_root_user(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    for label in ("source", "revision", "version", "created"):
        assert f"org.opencontainers.image.{label}=" in text
    users = re.findall(r"(?m)^USER (\S+)", text)
    assert users and users[-1] == "10001"

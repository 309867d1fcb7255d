"""`pip install pathops-golden-path[demo]` then `pathops demo`, as a new user would: from the wheel, anywhere."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=600, check=False)


@pytest.mark.slow
def test_the_wheel_runs_the_demo_from_any_folder_once_the_demo_extra_is_installed(tmp_path: Path) -> None:
    # pip finds packages the way this machine is configured to (index, mirror, find-links): no flags of ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GIT_", "VIRTUAL_ENV", "PYTHON"))}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    constraints = ["-c", str(REPOSITORY / "constraints.txt")]

    built = _run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(REPOSITORY)], elsewhere, env)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("pathops_golden_path-*.whl")
    installed = _run([*pip, "install", *constraints, str(wheel)], elsewhere, env)
    assert installed.returncode == 0, installed.stderr[-2000:]
    pathops = str(environment / "bin" / "pathops")

    without_extra = _run([pathops, "demo"], elsewhere, env)
    assert without_extra.returncode == 2
    assert without_extra.stderr.strip().count("\n") == 0, without_extra.stderr
    assert "pip install 'pathops-golden-path[demo]'" in without_extra.stderr

    with_extra = _run([*pip, "install", *constraints, f"pathops-golden-path[demo] @ {wheel.as_uri()}"], elsewhere, env)
    assert with_extra.returncode == 0, with_extra.stderr[-2000:]
    # Nothing of the checkout is reachable: the sample app comes from the installed package.
    assert REPOSITORY.as_posix() not in _run([str(environment / "bin" / "python"), "-c",
                                             "import golden_path.cli as c; print(c.EXAMPLE)"], elsewhere, env).stdout
    demo = _run([pathops, "demo"], elsewhere, env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "/shop/shop-frontend/-/merge_requests/1" in demo.stdout
    assert "/healthz -> HTTP 404 before, /health -> HTTP 200 after" in demo.stdout
    assert "+              path: /health " in demo.stdout
    # Without --workdir nothing is left behind.
    assert not [p for p in scratch.iterdir() if p.name.startswith("pathops-demo-")]

"""The collector's warm-up thread imports nothing the foreground may be importing at the same time.

Two threads entering one package's import cycle from different modules hand one of them a half-made
module: the demo's collector once died with "cannot import name 'Plugin' from partially initialized
module 'detect_secrets.core.plugins'". So every package the background imports into must already be
fully imported by the foreground, or be the background's alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence_collector.cli import BACKGROUND_IMPORTS, FOREGROUND_IMPORTS, UPLOAD_BACKGROUND_IMPORTS, UPLOAD_IMPORTS
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster

PROBE = """
import importlib, json, sys
for name in {foreground!r}:
    importlib.import_module(name)
before = set(sys.modules)
for name in {background!r}:
    importlib.import_module(name)
print(json.dumps({{"before": sorted(before), "added": sorted(set(sys.modules) - before)}}))
"""


@pytest.mark.parametrize(("foreground", "background"), [
    (FOREGROUND_IMPORTS, BACKGROUND_IMPORTS),  # --no-upload
    (FOREGROUND_IMPORTS + UPLOAD_IMPORTS, BACKGROUND_IMPORTS + UPLOAD_BACKGROUND_IMPORTS),
], ids=["no-upload", "upload"])
def test_the_background_imports_only_packages_the_foreground_finished_or_never_touches(
        foreground: tuple[str, ...], background: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(foreground=foreground, background=background)],
                          capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    foreground_packages = {name.split(".")[0] for name in seen["before"]}
    # Third-party packages the foreground loaded part of, into which the background would load more.
    shared = sorted({name for name in seen["added"]
                     if name.split(".")[0] in foreground_packages
                     and name.split(".")[0] not in {"evidence_collector", "pathops_runtime", "pathops_contracts"}
                     and "." in name})
    assert "detect_secrets" not in {name.split(".")[0] for name in seen["added"]}
    assert shared == [], f"the warm-up thread would import into packages the foreground is using: {shared}"


# The real command, its warm-up thread held inside its first import until the foreground either imports a
# module itself (recorded: it would be importing at the same time as the warm-up) or waits for the warm-up
# thread. A short collection (here: a focused one on a small namespace, or an empty namespace in a Job)
# reaches the snapshot and the delivery while the warm-up is still importing boto3 and requests.
HELD_WARM_UP = """
import importlib.machinery, sys, threading
held, release = threading.Event(), threading.Event()

class HeldLoader:
    def __init__(self, real):
        self.real = real
    def create_module(self, spec):
        return self.real.create_module(spec)
    def exec_module(self, module):  # with this module's lock only, not the import system's
        held.set()
        release.wait()
        self.real.exec_module(module)

class Watch:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread().name == "warm-imports" and not held.is_set():
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None:
                spec.loader = HeldLoader(spec.loader)
            return spec
        if threading.current_thread() is threading.main_thread() and held.is_set() and not release.is_set():
            print("imported while the warm-up imports:", name, file=sys.stderr, flush=True)
            release.set()
        return None

joined = threading.Thread.join
def join(self, *args, **kwargs):
    if self.name == "warm-imports":
        release.set()
    return joined(self, *args, **kwargs)

threading.Thread.join = join
sys.meta_path.insert(0, Watch())
sys.argv = ["evidence-collector", "collect", *sys.argv[1:]]
from evidence_collector.cli import main
main()
"""


@pytest.mark.parametrize("upload", [False, True], ids=["no-upload", "upload"])
def test_the_foreground_imports_nothing_while_the_warm_up_thread_imports(
        cluster: Cluster, tmp_path: Path, upload: bool, request: pytest.FixtureRequest) -> None:
    variables = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "INCIDENT_ID": "INC-1042",
                 "APP_ID": "shop-frontend", "TARGET_NAMESPACE": scenarios.NS, "WORKLOAD": "deployment/shop-frontend"}
    if upload:
        store = request.getfixturevalue("store_settings")
        request.getfixturevalue("artifact_store").ensure_bucket()
        httpserver = request.getfixturevalue("httpserver")
        httpserver.expect_request("/api/evidence/callback", method="POST").respond_with_data("{}", status=202)
        variables.update(MINIO_ENDPOINT=store.endpoint, MINIO_BUCKET=store.bucket,
                         CONTROL_PLANE_CALLBACK_URL=httpserver.url_for("/api/evidence/callback"))
    args = () if upload else ("--no-upload", "--output-dir", str(tmp_path / "out"))
    done = subprocess.run([sys.executable, "-c", HELD_WARM_UP, *args], env=variables, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert "imported while the warm-up imports" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["bundle" if upload else "snapshot_id"]

"""The collector's start-up imports: what a background thread imports never races the main thread's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pathops_testbed.kube_api import write_kubeconfig

# Records, when the warm-import thread is started, whether the redactor (and its detect-secrets, a
# package with import cycles) is already imported: two threads importing detect-secrets at once fail
# with "cannot import name ... from partially initialized module", and the run with exit 1.
PROBE = """
import json, sys
import evidence_collector.cli as cli

seen = {}
started = cli._import_in_background

def record(*modules):
    seen["redactor_imported"] = "pathops_contracts.redaction" in sys.modules and "detect_secrets" in sys.modules
    seen["scan_imported"] = "pathops_contracts.secret_scan" in sys.modules
    seen["modules"] = list(modules)
    return started(*modules)  # the thread, which the command waits for before the snapshot

cli._import_in_background = record
try:
    cli.main.main(sys.argv[1:], prog_name="evidence-collector")
except SystemExit:
    pass
print(json.dumps(seen))
"""


def test_the_redactor_is_imported_before_the_background_imports_start(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", "shop-frontend-preflight")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "collect", "--no-upload", "--incident-id", "INC-1042", "--app-id",
         "shop-frontend", "--target-namespace", "shop-frontend-preflight", "--output-dir", str(tmp_path / "out"),
         "--kubeconfig", str(kubeconfig), "--deadline", "30"],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["redactor_imported"] is True, result.stderr[-2000:]
    # The final scan (detect-secrets again) too: the thread gets only what the foreground never imports.
    assert seen["scan_imported"] is True
    assert not any("secret" in module or "redaction" in module for module in seen["modules"])

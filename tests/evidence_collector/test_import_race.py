"""The collector's warm-up thread imports nothing the foreground may be importing at the same time.

Two threads entering one package's import cycle from different modules hand one of them a half-made
module: the demo's collector once died with "cannot import name 'Plugin' from partially initialized
module 'detect_secrets.core.plugins'". So every package the background imports into must already be
fully imported by the foreground, or be the background's alone.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evidence_collector.cli import BACKGROUND_IMPORTS, FOREGROUND_IMPORTS, UPLOAD_BACKGROUND_IMPORTS, UPLOAD_IMPORTS

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

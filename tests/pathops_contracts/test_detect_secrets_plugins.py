"""detect-secrets loads without `requests`, and `requests` is still the real module to whoever imports it.

Each case runs in a fresh interpreter: what is imported is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{before}
import pathops_contracts.redaction, pathops_contracts.secret_scan
from pathops_contracts.secret_scan import scan_text
hits = [hit.kind for hit in scan_text("aws_key = AKIAIOSFODNN7EXAMPLE")]
loaded = "requests" in sys.modules
{after}
"""


def probe(before: str = "", after: str = "") -> dict[str, object]:
    code = PROBE.format(before=before, after=after)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_scan_and_the_redactor_load_and_run_without_requests() -> None:
    seen = probe(after='print(json.dumps({"loaded": loaded, "hits": hits}))')
    assert seen["loaded"] is False
    assert "detect-secrets:AWS Access Key" in seen["hits"]  # type: ignore[operator]


def test_a_later_import_of_requests_gets_the_real_module_and_the_plugins_reach_it() -> None:
    seen = probe(after="""
import requests, detect_secrets.plugins.base as base, detect_secrets.filters.common as common
print(json.dumps({"real": type(requests) is type(sys) and hasattr(requests, "Session"),
                  "in_modules": sys.modules["requests"] is requests,
                  "plugins": base.requests.exceptions.RequestException is requests.exceptions.RequestException,
                  "filters": common.requests.post is requests.post}))
""")
    assert seen == {"real": True, "in_modules": True, "plugins": True, "filters": True}


def test_a_plugin_asking_for_requests_first_imports_the_real_one() -> None:
    seen = probe(after="""
import detect_secrets.plugins.base as base
error = base.requests.exceptions.RequestException
import requests
print(json.dumps({"same": error is requests.exceptions.RequestException, "session": hasattr(requests, "Session")}))
""")
    assert seen == {"same": True, "session": True}


def test_requests_imported_before_is_left_as_it_is() -> None:
    seen = probe(before="import requests", after="""
import detect_secrets.plugins.base as base
print(json.dumps({"same": base.requests is requests and sys.modules["requests"] is requests}))
""")
    assert seen == {"same": True}


def test_every_plugin_detect_secrets_ships_is_loaded() -> None:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    from pathops_contracts.detect_secrets_plugins import PLUGIN_CLASSES

    assert set(PLUGIN_CLASSES) == set(get_mapping_from_secret_type_to_class().values())
    assert len(PLUGIN_CLASSES) > 20

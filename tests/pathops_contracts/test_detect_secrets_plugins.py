"""detect-secrets loads without `requests`, and `requests` is still the real module to whoever imports it.

Each case runs in a fresh interpreter: what is imported is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


# The main thread is held inside detect-secrets' import (before its AWS plugin runs: the stand-in's moment)
# until another thread has imported `requests` its own ways. That thread gets the real package, imported
# once: a submodule imported twice would leave `except requests.exceptions.ConnectionError` unable to catch
# what the adapters raise, and the stand-in's `Response` is not the real one.
RACE = """
import importlib.machinery, json, sys, threading
inside, done = threading.Event(), threading.Event()
seen = {{}}

class HeldLoader:
    def __init__(self, real):
        self.real = real
    def create_module(self, spec):
        return self.real.create_module(spec)
    def exec_module(self, module):  # called with this module's lock only, not the import system's
        inside.set()
        done.wait()
        self.real.exec_module(module)

class Hold:
    def find_spec(self, name, path=None, target=None):
        if name == "detect_secrets.plugins.aws" and threading.current_thread() is threading.main_thread():
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            spec.loader = HeldLoader(spec.loader)
            return spec
        return None

sys.meta_path.insert(0, Hold())

def other():
    inside.wait()
    try:
        {statement}
        seen["got"] = requests
    finally:
        done.set()

thread = threading.Thread(target=other)
thread.start()
import pathops_contracts.secret_scan
thread.join()
import requests, requests.adapters, requests.exceptions, requests.models
print(json.dumps({{"real": seen["got"] is requests,
                  "response": seen["got"].Response is requests.models.Response,
                  "exceptions_once": requests.adapters.ConnectionError is requests.exceptions.ConnectionError,
                  "adapters_once": requests.sessions.HTTPAdapter is requests.adapters.HTTPAdapter}}))
"""


@pytest.mark.parametrize("statement", ["import requests", "import requests.exceptions", "import requests.adapters",
                                       "from requests import exceptions; import requests"])
def test_another_thread_importing_requests_while_detect_secrets_loads_gets_the_real_package_once(
        statement: str) -> None:
    done = subprocess.run([sys.executable, "-c", RACE.format(statement=statement)], capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(done.stdout) == {"real": True, "response": True, "exceptions_once": True, "adapters_once": True}


def test_the_import_statement_is_the_interpreter_s_again_once_detect_secrets_is_loaded() -> None:
    seen = probe(before="import builtins; original = builtins.__import__",
                 after='print(json.dumps({"restored": builtins.__import__ is original}))')
    assert seen == {"restored": True}

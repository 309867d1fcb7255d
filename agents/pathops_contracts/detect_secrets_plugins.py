"""Yelp's detect-secrets as these tools load it: without `requests`.

detect-secrets imports `requests` in its plugin modules for `verify` only: asking a provider whether
a secret found is live, which these tools never do (it would send the secret out). Loading requests
is a third of detect-secrets' import, 25 ms of every agent's start (urllib3, which the Kubernetes
reader loads anyway, aside). So while detect-secrets loads, its own modules' `import requests` gets a
stand-in (`_Deferred`) that imports the real module the first time anything is asked of it.
`Response`, which two plugins name in annotations evaluated as they load, is answered without loading.

The stand-in is never in `sys.modules`: the import statement is the interpreter's own for every other
module and thread, even meanwhile. A stand-in there was seen by another thread importing `requests`
at that moment, and `import requests.exceptions` then loaded that submodule a second time (its
exception classes no longer those the adapters raise). The real module is not imported for
detect-secrets, but the stand-in does not keep a plugin from sending a secret: `verify` would.

Nor is the package's own `__init__` run: it only loads `SecretsCollection`, the scanning of files
(with it the filters, the gibberish model, part of multiprocessing: 15 ms of every start), which
these tools never use. The package is made from its spec unexecuted, so its plugin modules load as
its submodules do; `detect_secrets.SecretsCollection` still answers, loaded when first asked for.

Import detect-secrets through this module, before anything else imports it.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any


class _Response:
    """What `requests.Response` is to detect-secrets' modules: only annotations name it as they load."""


class _Deferred(types.ModuleType):
    """`requests`, imported the first time an attribute other than `Response` is asked of it."""

    Response = _Response

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("requests"), name)


@contextmanager
def _requests_deferred() -> Iterator[None]:
    """Meanwhile, `import requests` in a module of detect-secrets gets the stand-in; any other import is left be."""
    if "requests" in sys.modules:
        yield
        return
    stand_in = _Deferred("requests")
    interpreters = builtins.__import__
    deferring = True

    def deferred_import(name: str, globals: Mapping[str, object] | None = None,
                        locals: Mapping[str, object] | None = None, fromlist: Sequence[str] | None = (),
                        level: int = 0) -> types.ModuleType:
        if (deferring and name == "requests" and not fromlist and not level
                and str((globals or {}).get("__name__", "")).startswith("detect_secrets.")):
            return stand_in
        return interpreters(name, globals, locals, fromlist or (), level)

    builtins.__import__ = deferred_import
    try:
        yield
    finally:
        deferring = False  # should another hook have wrapped this one meanwhile, it now passes everything on
        if builtins.__import__ is deferred_import:
            builtins.__import__ = interpreters


def _package_without_its_init() -> None:
    """`detect_secrets` in sys.modules as its spec makes it, its `__init__` not run (see above)."""
    if "detect_secrets" in sys.modules:
        return
    spec = importlib.util.find_spec("detect_secrets")
    if spec is None or spec.submodule_search_locations is None:
        return  # the import below fails as it would have
    package = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:  # what the __init__ would have set, when asked for
        if name == "SecretsCollection":
            from detect_secrets.core.secrets_collection import SecretsCollection

            return SecretsCollection
        raise AttributeError(f"module 'detect_secrets' has no attribute {name!r}")

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules.setdefault("detect_secrets", package)


_package_without_its_init()
with _requests_deferred():
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.base import BasePlugin
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import DENYLIST
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    # Every plugin class detect-secrets ships, its modules imported now (the stand-in still in place).
    PLUGIN_CLASSES: tuple[type[BasePlugin], ...] = tuple(get_mapping_from_secret_type_to_class().values())

__all__ = [
    "DENYLIST",
    "PLUGIN_CLASSES",
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "BasePlugin",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TwilioKeyDetector",
]

"""Yelp's detect-secrets as these tools load it: without `requests`.

detect-secrets imports `requests` in its plugin modules for `verify` only: asking a provider whether
a secret found is live, which these tools never do (it would send the secret out). Loading requests
is a third of detect-secrets' import, 25 ms of every agent's start (urllib3, which the Kubernetes
reader loads anyway, aside). So while detect-secrets loads, `requests` is a stand-in (`_Deferred`)
that imports the real module the first time anything is asked of it, and it is in `sys.modules`
only meanwhile: any later `import requests` gets the real one. `Response`, which two plugins name
in annotations evaluated as they load, is answered without loading.

Import detect-secrets through this module, before anything else imports it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


class _Response:
    """What `requests.Response` is while detect-secrets loads: only annotations name it then."""


class _Deferred(types.ModuleType):
    """`requests`, imported the first time an attribute other than `Response` is asked of it."""

    Response = _Response

    def __getattr__(self, name: str) -> Any:
        with _LOCK:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]  # the real module takes its place
            real = importlib.import_module(self.__name__)
        return getattr(real, name)


@contextmanager
def _requests_deferred() -> Iterator[None]:
    if "requests" in sys.modules:
        yield
        return
    stand_in = _Deferred("requests")
    sys.modules["requests"] = stand_in
    try:
        yield
    finally:
        with _LOCK:
            if sys.modules.get("requests") is stand_in:
                del sys.modules["requests"]


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

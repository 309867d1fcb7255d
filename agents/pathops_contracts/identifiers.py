"""Strict patterns for identifiers that come from outside.

Every identifier is checked before it reaches a Kubernetes name or label, an S3 key,
a git ref or a file path, so none of them can carry a path, a shell word or a newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathops_contracts.errors import InvalidInput


@dataclass(frozen=True)
class IdentifierRule:
    """A named pattern with a maximum length and a human description."""

    name: str
    pattern: re.Pattern[str]
    max_length: int
    description: str

    def check(self, value: str) -> str:
        """Return value when it matches; raise InvalidInput naming the rule otherwise."""
        if len(value) > self.max_length:
            raise InvalidInput(
                f"{self.name} is {len(value)} characters long; at most {self.max_length} allowed"
            )
        if not self.pattern.fullmatch(value):
            raise InvalidInput(f"{self.name} {value!r} is not valid: {self.description}")
        return value


def _rule(name: str, regex: str, max_length: int, description: str) -> IdentifierRule:
    return IdentifierRule(name, re.compile(regex), max_length, description)


# Usable as a Kubernetes label value and inside object names (lower-cased there).
INCIDENT_ID = _rule(
    "incident id",
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?",
    48,
    "letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
)
CHANGESET_ID = _rule(
    "change set id",
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?",
    48,
    "letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
)
VERIFICATION_ID = _rule(
    "verification id",
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?",
    48,
    "letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
)
# An app name becomes `<app>-preflight`, `<app>-production` and `<app>-agents`: 40 leaves room.
APP_ID = _rule(
    "app id",
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
    40,
    "a DNS-1123 label: lowercase letters, digits and '-'",
)
NAMESPACE = _rule(
    "namespace",
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
    63,
    "a DNS-1123 label: lowercase letters, digits and '-'",
)
COMMIT_SHA = _rule(
    "commit sha",
    r"[0-9a-f]{40}|[0-9a-f]{64}",
    64,
    "a full lowercase hex git object id (40 or 64 characters)",
)
# GitLab project path: group[/subgroup...]/project; a segment cannot start or end with a dot,
# so "." and ".." segments are impossible.
PROJECT_PATH = _rule(
    "project path",
    r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?(?:/[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)+",
    255,
    "a GitLab project path such as 'shop/shop-frontend'",
)
ARTIFACT_ID = _rule(
    "artifact id",
    r"(?:snap|patch|report)-[0-9a-f]{32}",
    39,
    "'snap-', 'patch-' or 'report-' followed by 32 lowercase hex digits",
)
BUCKET = _rule(
    "bucket",
    r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
    63,
    "an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'",
)


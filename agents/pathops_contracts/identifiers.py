"""Strict patterns for identifiers that come from outside.

Every identifier is checked before it reaches a Kubernetes name or label, an S3 key,
a git ref or a file path, so none of them can carry a path, a shell word or a newline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pathops_contracts.errors import InvalidInput


@dataclass(frozen=True)
class IdentifierRule:
    """A named pattern with a maximum length and a human description.

    `meaning`, when set, checks what the pattern cannot (a date exists, a window is not absurd)
    and returns why the value is refused, or None.
    """

    name: str
    pattern: re.Pattern[str]
    max_length: int
    description: str
    meaning: Callable[[str], str | None] | None = None

    def check(self, value: str) -> str:
        """Return value when it matches; raise InvalidInput naming the rule otherwise."""
        if len(value) > self.max_length:
            raise InvalidInput(
                f"{self.name} is {len(value)} characters long; at most {self.max_length} allowed"
            )
        if not self.pattern.fullmatch(value):
            raise InvalidInput(f"{self.name} {value!r} is not valid: {self.description}")
        problem = self.meaning(value) if self.meaning else None
        if problem:
            raise InvalidInput(f"{self.name} {value!r} is not valid: {problem}")
        return value


def _rule(name: str, regex: str, max_length: int, description: str,
          meaning: Callable[[str], str | None] | None = None) -> IdentifierRule:
    return IdentifierRule(name, re.compile(regex), max_length, description, meaning)


# Time windows and timestamps: the same bounds in Groovy (src/io/pathops/jenkins/Inputs.groovy).
MAX_TIME_WINDOW = timedelta(days=7)
EARLIEST_YEAR, LATEST_YEAR = 2000, 2999
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """`1h30m` -> 5400 (Python integers: a 20-digit count cannot overflow, it is refused by size)."""
    return sum(int(number) * _DURATION_UNITS[unit] for number, unit in re.findall(r"([0-9]+)([smhd])", text))


def parse_utc_timestamp(text: str) -> datetime | None:
    """The moment of an RFC 3339 UTC timestamp, or None when no such date exists or its year is absurd."""
    try:
        moment = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment if EARLIEST_YEAR <= moment.year <= LATEST_YEAR else None


def _timestamp_meaning(text: str) -> str | None:
    if parse_utc_timestamp(text) is None:
        return f"no such date, or a year outside {EARLIEST_YEAR}-{LATEST_YEAR}"
    return None


def _window_meaning(text: str) -> str | None:
    if "/" in text:
        start, end = (parse_utc_timestamp(part) for part in text.split("/", 1))
        if start is None or end is None:
            return f"no such date, or a year outside {EARLIEST_YEAR}-{LATEST_YEAR}"
        length = end - start
        if length <= timedelta(0):
            return "the interval ends before it starts"
    else:
        length = timedelta(seconds=min(duration_seconds(text), 10**9))
        if not length:
            return "the window is empty"
    if length > MAX_TIME_WINDOW:
        return f"longer than {MAX_TIME_WINDOW.days} days"
    return None


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
# A verification run has its own id from the control plane, never an incident id reused: the
# prefix makes a copied INC-... fail here, in the schemas (defs.schema.json) and in Groovy (Inputs).
VERIFICATION_ID = _rule(
    "verification id",
    r"VER-[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?",
    48,
    "VER- then letters, digits, '.', '_' and '-', ending with a letter or digit (e.g. VER-7f3a9c)",
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

# An OCI image reference: registry[:port]/path[:tag][@sha256:digest].
IMAGE_REF = _rule(
    "image",
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?",
    512,
    "an image reference such as harbor.demo.pathops.io/pathops/evidence-collector:0.1.0[@sha256:...]",
)
# A duration (`30m`, `1h30m`) or an RFC 3339 interval (`<start>/<end>`, UTC).
TIME_WINDOW = _rule(
    "time window",
    r"(?:[0-9]+[smhd])+"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
    64,
    "a duration such as 30m or 1h30m, or an interval 2026-11-27T09:00:00Z/2026-11-27T10:00:00Z",
    _window_meaning,
)
# An endpoint URL that may be written into a manifest: no quotes, spaces or query strings.
ENDPOINT_URL = _rule(
    "endpoint URL",
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?",
    512,
    "an http(s) URL without credentials, query or fragment",
)
# kind/name of a workload, e.g. deployment/shop-frontend, or of the Service an alert is about.
WORKLOAD = _rule(
    "workload",
    r"(?:deployment|statefulset|daemonset|job|cronjob|replicaset|pod|service)/[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?",
    300,
    "kind/name, e.g. deployment/shop-frontend or service/shop-frontend",
)
# A Kubernetes label selector of equality terms: key=value[,key=value...].
LABEL_SELECTOR = _rule(
    "label selector",
    r"[A-Za-z0-9./_-]+(?:==?|!=)[A-Za-z0-9._-]*(?:,[A-Za-z0-9./_-]+(?:==?|!=)[A-Za-z0-9._-]*)*",
    512,
    "equality terms such as app.kubernetes.io/name=shop-frontend,tier=web",
)
RFC3339_UTC = _rule(
    "timestamp",
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z",
    40,
    "an RFC 3339 UTC timestamp such as 2026-11-27T09:30:00Z",
    _timestamp_meaning,
)

# Each rule by its name: how agent Job descriptions (agent_jobs/*.yaml) name the rule a value follows.
RULES_BY_NAME: dict[str, IdentifierRule] = {
    rule.name: rule
    for rule in (INCIDENT_ID, CHANGESET_ID, VERIFICATION_ID, APP_ID, NAMESPACE, COMMIT_SHA, PROJECT_PATH,
                 ARTIFACT_ID, BUCKET, IMAGE_REF, TIME_WINDOW, ENDPOINT_URL, WORKLOAD, LABEL_SELECTOR, RFC3339_UTC)
}

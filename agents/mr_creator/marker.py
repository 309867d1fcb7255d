"""The changeset marker: how mr-creator recognises a merge request it wrote.

An HTML comment at the very end of the description, holding what the tool remembers
(change set, patch, last pushed head) and an HMAC-SHA256 over those fields, the project
and the branch, keyed by the marker key (`MR_MARKER_KEY`, else `CALLBACK_SIGNING_KEY`).
Only the last line of a description counts, and only when its HMAC verifies: a marker
copied into untrusted text (neutralised anyway: its `<` becomes `&lt;`), forged without
the key, edited, or moved to another project or branch is not the tool's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass

MARKER_PREFIX = "<!-- pathops:changeset "
MARKER_SUFFIX = " -->"
# A genuine marker is under 1 KiB: eight short fields and a MAC.
_MAX_MARKER_CHARS = 4096
_LAST_LINE = re.compile(re.escape(MARKER_PREFIX) + r"(\{[^\n]*\})" + re.escape(MARKER_SUFFIX) + r"\s*\Z")


@dataclass(frozen=True)
class ChangeSetMarker:
    """What mr-creator remembers about the change set inside the MR body."""

    changeset_id: str
    incident_id: str
    snapshot_id: str
    patch_id: str
    base_sha: str
    bundle_sha256: str
    last_pushed_head: str
    tool_version: str


@dataclass(frozen=True)
class MarkerScope:
    """Where a marker is valid, and the key that signs it."""

    key: bytes
    project: str
    branch: str

    def mac(self, marker: ChangeSetMarker) -> str:
        signed = {"marker": asdict(marker), "project": self.project, "branch": self.branch}
        # Its own prefix: a marker MAC can never pass for a callback signature made with the same key.
        message = b"pathops-changeset-marker/v1\n" + json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def render_marker(marker: ChangeSetMarker, scope: MarkerScope) -> str:
    fields = {**asdict(marker), "mac": scope.mac(marker)}
    # '-' escaped so that no value (an incident id may hold "--") can end the comment early.
    text = json.dumps(fields, sort_keys=True).replace("-", "\\u002d")
    return MARKER_PREFIX + text + MARKER_SUFFIX


def verified_marker(description: str | None, scope: MarkerScope) -> ChangeSetMarker | None:
    """The marker on the last line of a description, if this tool's key signed it for this branch."""
    text = description or ""
    match = _LAST_LINE.search(text)
    if match is None or not (match.start() == 0 or text[match.start() - 1] == "\n"):
        return None
    if len(match.group(1)) > _MAX_MARKER_CHARS:  # a planted marker may be deeply nested JSON
        return None
    try:
        data = json.loads(match.group(1))
        marker = ChangeSetMarker(**{key: data[key] for key in ChangeSetMarker.__dataclass_fields__})
        mac = data["mac"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not all(isinstance(value, str) for value in asdict(marker).values()) or not isinstance(mac, str):
        return None
    if set(data) != {*ChangeSetMarker.__dataclass_fields__, "mac"}:
        return None
    return marker if hmac.compare_digest(mac, scope.mac(marker)) else None

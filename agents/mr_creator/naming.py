"""Branch names of change sets: `cs-<changeset_id>-fix-<slug>`."""

from __future__ import annotations

import re

SLUG_MAX = 40


def slugify(summary: str, max_length: int = SLUG_MAX) -> str:
    """Lowercase [a-z0-9-] slug of a summary, cut at a word boundary; 'change' when nothing is left."""
    words = re.findall(r"[a-z0-9]+", summary.lower())
    while words[1:] and words[0] in {"fix", "fixes", "fixed"}:  # the branch already says "fix"
        words = words[1:]
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_length:
            break
        slug = candidate
    if not slug and words:
        slug = words[0][:max_length]
    return slug or "change"


def branch_name(changeset_id: str, summary: str) -> str:
    """The change set's branch; changeset_id has already passed its identifier rule."""
    safe_id = re.sub(r"[^a-z0-9-]+", "-", changeset_id.lower()).strip("-")
    safe_id = safe_id.removeprefix("cs-") or safe_id  # "CS-314" names branch cs-314-..., not cs-cs-314-...
    return f"cs-{safe_id}-fix-{slugify(summary)}"

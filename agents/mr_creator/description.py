"""Merge request title and body: rendered from a template, with a hidden machine-readable marker.

Agent-written text (summary, rationale, analysis) is untrusted: it may quote logs. It is
rendered so that GitLab neither runs it as a quick action (a line starting with '/')
nor pings people with it, and the analysis sits in a fenced block.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib import resources
from string import Template
from typing import Any

from pathops_contracts.errors import InvalidInput

MARKER_PREFIX = "<!-- pathops:changeset "
MARKER_SUFFIX = " -->"
MAX_TITLE = 255
MAX_ANALYSIS = 20_000


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


def render_marker(marker: ChangeSetMarker) -> str:
    # '--' cannot occur in the JSON of our validated fields, so the comment cannot be closed early.
    return MARKER_PREFIX + json.dumps(asdict(marker), sort_keys=True) + MARKER_SUFFIX


def parse_marker(description: str | None) -> ChangeSetMarker | None:
    """The marker of a body written by this tool, or None."""
    if not description:
        return None
    match = re.search(re.escape(MARKER_PREFIX) + r"(\{.*?\})" + re.escape(MARKER_SUFFIX), description)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
        return ChangeSetMarker(**{key: str(data[key]) for key in ChangeSetMarker.__dataclass_fields__})
    except (ValueError, KeyError, TypeError):
        return None


def neutralize(text: str) -> str:
    """Keep untrusted text from acting: no quick actions, no mentions, no HTML comments."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("/"):
            line = line.replace("/", "\\/", 1)
        lines.append(line)
    out = "\n".join(lines)
    out = re.sub(r"(?<![\w`])@(?=[\w.-])", "@\u200b", out)
    return out.replace("<!--", "&lt;!--")


def fenced(text: str, info: str = "text") -> str:
    """A fenced block that no backtick run inside the text can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def title_for(summary: str, draft: bool, prefix: str = "") -> str:
    first_line = neutralize(summary).splitlines()[0] if summary.strip() else "PathOps fix"
    title = f"{prefix}{first_line}".strip()
    if draft:
        title = f"Draft: {title}"
    return title[:MAX_TITLE]


def render_body(
    template_text: str,
    metadata: dict[str, Any],
    analysis: str | None,
    marker: ChangeSetMarker,
    extra_fields: dict[str, str],
) -> str:
    """The MR body: template fields filled, marker appended. Unknown ${fields} are an input error."""
    analysis_text = ""
    if analysis:
        clipped = analysis[:MAX_ANALYSIS]
        analysis_text = "<details><summary>Analysis by the fix agent</summary>\n\n" + fenced(clipped, "markdown")
        analysis_text += "\n\n</details>"
    engine = metadata["engine"]
    engine_text = engine["name"] + "".join(
        f", {key} `{engine[key]}`" for key in ("playbook", "model") if engine.get(key)
    )
    fields = {
        "summary": neutralize(metadata["summary"]),
        "rationale": neutralize(metadata["rationale"]) or "_No rationale given._",
        "incident_id": metadata["incident_id"],
        "snapshot_id": metadata["snapshot_id"],
        "patch_id": marker.patch_id,
        "bundle_sha256": marker.bundle_sha256,
        "base_sha": marker.base_sha,
        "engine": engine_text,
        "analysis": analysis_text,
        "files_touched": "\n".join(f"- `{path}`" for path in metadata["files_touched"]),
        "recommended_checks": "\n".join(f"- [ ] {neutralize(check)}" for check in metadata["recommended_checks"])
        or "- [ ] _none given_",
        "extra": "".join(f"\n**{neutralize(k)}:** {neutralize(v)}\n" for k, v in sorted(extra_fields.items())),
    }
    try:
        body = Template(template_text).substitute(fields)
    except (KeyError, ValueError) as error:
        raise InvalidInput(f"merge request template uses an unknown or malformed field: {error}") from error
    return body.rstrip() + "\n\n" + render_marker(marker) + "\n"


def default_template() -> str:
    return (resources.files("mr_creator") / "templates" / "merge_request.md").read_text(encoding="utf-8")

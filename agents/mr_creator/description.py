"""Merge request title and body: rendered from a template, closed by the signed changeset marker.

Agent-written text (summary, rationale, checks, engine fields, analysis, file names) is
untrusted: it may quote logs. All of it goes through `untrusted_text` before it reaches
the template; the analysis sits in a fenced block inside `<details>`, neutralised too.
The operator's template and `--field` keys are the operator's, but fields are still
neutralised. The marker is appended after everything else (see `marker`).
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template
from typing import Any

from mr_creator.marker import ChangeSetMarker, MarkerScope, render_marker
from mr_creator.untrusted_text import ZWSP, code_span, fenced, neutralize, normalize_lines, one_line
from pathops_contracts.errors import InvalidInput

MAX_TITLE = 255
MAX_ANALYSIS = 20_000


# GitLab's draft prefixes ("Draft:", "[Draft]", "(draft)", "Draft ", old "WIP:"): only the tool decides.
_DRAFT_PREFIX = re.compile(r"^([\[(]?(?:d(?=raft)|w(?=ip)))", re.IGNORECASE)


def title_for(summary: str, draft: bool, prefix: str = "") -> str:
    first_line = summary.strip().splitlines()[0] if summary.strip() else "PathOps fix"
    title = _DRAFT_PREFIX.sub(lambda m: m.group(1) + ZWSP, one_line(f"{prefix}{first_line}"))
    if draft:
        title = f"Draft: {title}"
    return title[:MAX_TITLE]


def render_body(
    template_text: str,
    metadata: dict[str, Any],
    analysis: str | None,
    marker: ChangeSetMarker,
    scope: MarkerScope,
    extra_fields: dict[str, str],
) -> str:
    """The MR body: template fields filled, marker appended. Unknown ${fields} are an input error."""
    analysis_text = ""
    if analysis:
        clipped = analysis[:MAX_ANALYSIS]
        analysis_text = "<details><summary>Analysis by the fix agent</summary>\n\n" + fenced(clipped, "markdown")
        analysis_text += "\n\n</details>"
    engine = metadata["engine"]
    engine_text = neutralize(engine["name"]) + "".join(
        f", {key} {code_span(str(engine[key]))}" for key in ("playbook", "model") if engine.get(key)
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
        "files_touched": "\n".join(f"- {code_span(path)}" for path in metadata["files_touched"]),
        "recommended_checks": "\n".join(f"- [ ] {one_line(check)}" for check in metadata["recommended_checks"])
        or "- [ ] _none given_",
        "extra": "".join(f"\n**{one_line(k)}:** {neutralize(v)}\n" for k, v in sorted(extra_fields.items())),
    }
    try:
        body = Template(template_text).substitute(fields)
    except (KeyError, ValueError) as error:
        raise InvalidInput(f"merge request template uses an unknown or malformed field: {error}") from error
    return body.rstrip() + "\n\n" + render_marker(marker, scope) + "\n"


def commit_message(original: str, patch_from: str) -> str:
    """The message of a pushed commit: the mail's message, neutralised, and its sender as a
    `Patch-From:` trailer (not `Co-authored-by:`, which would credit that address with the
    change). A `Patch-From:` line inside the mail's message is dropped: only ours counts."""
    lines = [line for line in normalize_lines(original).split("\n") if not line.lower().startswith("patch-from:")]
    text = neutralize("\n".join(lines).strip(), markdown=False) or "PathOps fix"
    return f"{text}\n\nPatch-From: {one_line(patch_from, markdown=False)}\n"


def default_template() -> str:
    return (resources.files("mr_creator") / "templates" / "merge_request.md").read_text(encoding="utf-8")

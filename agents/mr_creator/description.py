"""Merge request title and body: rendered from a template, closed by the signed changeset marker.

Agent-written text (summary, rationale, checks, engine fields, analysis, file names) is
untrusted: it may quote logs. All of it goes through `untrusted_text` before it reaches
the template; the analysis is shown as Markdown inside `<details>`, neutralised, its
headings flattened, and fenced as text when its own fences do not close cleanly. The
incident's story (`story`, `evidence_quotes`) fills the template's other fields. The
operator's template and MR_FIELDS keys are the operator's, but fields are still
neutralised. The marker is appended after everything else (see `marker`).
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template
from typing import Any

from mr_creator.marker import ChangeSetMarker, MarkerScope, render_marker
from mr_creator.story import Story, checks, what_fired
from mr_creator.untrusted_text import ZWSP, code_span, fenced, neutralize, normalize_lines, one_line
from pathops_contracts.errors import InvalidInput

MAX_TITLE = 255
MAX_ANALYSIS = 20_000
MAX_BODY = 20_000  # bytes of the body before the marker: one page a reviewer reads


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
    story: Story | None = None,
) -> str:
    """The MR body: template fields filled, marker appended. Unknown ${fields} are an input error.

    Under MAX_BODY bytes: when it would be longer, the analysis (the patch bundle keeps it) and
    then the evidence beyond the first findings give way; the marker always stays the last line."""
    story = story or Story("", "", "", "", "", "")
    variants = [(analysis, story),
                (None, story),
                (None, Story(story.what_fired, story.what_broke_it, _first_block(story.evidence), "", story.timeline,
                             story.checks))]
    for kept_analysis, kept_story in variants:
        body = _fill(template_text, metadata, kept_analysis, marker, kept_story, extra_fields,
                     analysis_dropped=bool(analysis) and kept_analysis is None)
        if len(body.encode()) <= MAX_BODY:
            break
    return body.rstrip() + "\n\n" + render_marker(marker, scope) + "\n"


def _fill(template_text: str, metadata: dict[str, Any], analysis: str | None, marker: ChangeSetMarker,
          story: Story, extra_fields: dict[str, str], analysis_dropped: bool) -> str:
    analysis_text = ""
    if analysis:
        analysis_text = ("<details><summary>Analysis by the fix agent</summary>\n\n"
                         + analysis_markdown(analysis[:MAX_ANALYSIS]) + "\n\n</details>")
    elif analysis_dropped:
        analysis_text = "_The fix agent's analysis is too long for this page: see analysis.md in the patch bundle._"
    more = (f"\n\n<details><summary>More findings</summary>\n\n{story.more_findings}\n\n</details>"
            if story.more_findings else "")
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
        "what_fired": story.what_fired or what_fired(extra_fields, metadata["incident_id"]),
        "what_broke_it": story.what_broke_it or "_Cannot be determined: no evidence snapshot was read._",
        "evidence": story.evidence or "_No evidence was read._",
        "more_findings": more,
        "timeline": story.timeline,
        "checks": story.checks or checks(None, metadata["recommended_checks"]),
    }
    try:
        return Template(template_text).substitute(fields)
    except (KeyError, ValueError) as error:
        raise InvalidInput(f"merge request template uses an unknown or malformed field: {error}") from error


def _first_block(evidence: str) -> str:
    """The first finding group of the evidence section only (the body was too long)."""
    cut = evidence.find("\n- ", 1)
    return (evidence[:cut] if cut > 0 else evidence) + "\n\n_More findings: see findings.json in the snapshot._"


# Markdown an agent wrote, shown as Markdown: headings become bold lines (they would break the page's
# outline), images become links, and only fences that open and close at the left margin are kept.
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def analysis_markdown(text: str) -> str:
    """The analysis as Markdown that cannot reach outside its <details> (else fenced, as text)."""
    lines = neutralize(text).split("\n")
    fence: str | None = None
    out = []
    for line in lines:
        match = _FENCE.match(line)
        if match:
            indent, marks, rest = match.groups()
            if indent:
                return fenced(text, "markdown")
            if fence is None:
                if marks[0] == "`" and "`" in rest:
                    return fenced(text, "markdown")
                fence = marks
            elif marks[0] == fence[0] and len(marks) >= len(fence) and not rest.strip():
                fence = None
            out.append(line)
            continue
        if fence is None:
            heading = _ATX_HEADING.match(line)
            if heading:
                line = f"**{heading[2]}**" if heading[2] else ""
            elif _SETEXT_UNDERLINE.match(line):
                line = ZWSP + line
            line = line.replace("![", "!" + ZWSP + "[")
        out.append(line)
    if fence is not None:
        return fenced(text, "markdown")
    return "\n".join(out)


def commit_message(original: str, patch_from: str) -> str:
    """The message of a pushed commit: the mail's message, neutralised, and its sender as a
    `Patch-From:` trailer (not `Co-authored-by:`, which would credit that address with the
    change). A `Patch-From:` line inside the mail's message is dropped: only ours counts."""
    lines = [line for line in normalize_lines(original).split("\n") if not line.lower().startswith("patch-from:")]
    text = neutralize("\n".join(lines).strip(), markdown=False) or "PathOps fix"
    return f"{text}\n\nPatch-From: {one_line(patch_from, markdown=False)}\n"


def default_template() -> str:
    return (resources.files("mr_creator") / "templates" / "merge_request.md").read_text(encoding="utf-8")

"""Bundle text that reaches GitLab cannot act there: quick actions, mentions, closing keywords, HTML, markers.

The checks read the description as GitLab does: quick actions on raw lines, references and
closing keywords on the text after HTML entities are decoded (GitLab's reference filters run
on rendered text nodes).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from mr_creator.marker import ChangeSetMarker, MarkerScope, render_marker
from mr_creator.untrusted_text import code_span, fenced, neutralize
from pathops_contracts.bundles import read_member, write_bundle
from pathops_testbed.git_repos import fix_probe_path
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.mr_creator.conftest import World, parse_marker

BRANCH = "cs-17-fix-readiness-probe-path-healthz-health"
# GitLab's default issue_closing_pattern, with its issue reference forms (local, cross-project, URL).
ISSUE_REF = r"(?:#\d+|[\w.-]+(?:/[\w.-]+)+#\d+|https?://\S+/-/issues/\d+)"
CLOSING = re.compile(
    r"\b((?:[Cc]los(?:e[sd]?|ing)|\b[Ff]ix(?:e[sd]|ing)?|\b[Rr]esolv(?:e[sd]?|ing)|\b[Ii]mplement(?:s|ed|ing)?)"
    r"(:?) +(?:(?:issues? +)?" + ISSUE_REF + r"(?:(?: *,? +and +| *,? *)?)|([A-Z][A-Z0-9_]+-\d+))+)"
)
QUICK_ACTION = re.compile(r"^\s*(?:[>*+-]\s*|\d+[.)]\s*|\[[ xX]\]\s*)*/[a-z_]+", re.MULTILINE)
MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9_.-]")
ISSUE_URL = re.compile(r"https?://\S+/(?:-/)?(?:issues|merge_requests)/\d+")
REFERENCE = re.compile(r"[#!&$]\d|(?<![A-Za-z0-9_])[~%][A-Za-z\"]")  # group/p#1 and g/p!6 count too

HOSTILE = """Looks fine.
/ready
   /assign_reviewer @boss
> /label ~security
- /target_branch production
1. /merge
- [ ] /approve
Closes #1 and Fixes group/proj#2
Resolves: https://gitlab.example.com/g/p/-/issues/3
Implements #4, cc @all `@all` and &#64;all
<!-- hidden text -->
<details><summary>nothing</summary>
</details>
see !45 ~bug %v1\r/unassign @x\u2028/close
_@all_ é@all \\@all [@all](https://x) https://gitlab.example.com/g/p/issues/5 g/p!6 ~"two words" $7"""


def _rebundle(world: World, name: str, analysis: str | None = None, **metadata_changes: object) -> str:
    """A valid bundle for the probe fix whose metadata.json fields the test overrides."""
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, world.root / f"base-{name}",
                                analysis=None)
    metadata = json.loads(read_member(bundle, "metadata.json"))
    metadata.update(metadata_changes)
    members: dict[str, Path | bytes] = {"patch.mbox": read_member(bundle, "patch.mbox"),
                                        "metadata.json": json.dumps(metadata).encode()}
    if analysis is not None:
        members["analysis.md"] = analysis.encode()
    write_bundle(world.root / name, members)
    return upload_bundle(world.store, world.root / name)


def _acts_in_gitlab(text: str) -> list[str]:
    rendered = html.unescape(text)
    found = [f"quick action {m.group(0).strip()!r}" for m in QUICK_ACTION.finditer(text)]
    found += [f"mention {m.group(0)!r}" for m in MENTION.finditer(rendered)]
    found += [f"closing {m.group(0)!r}" for m in CLOSING.finditer(rendered)]
    found += [f"reference {m.group(0)!r}" for m in REFERENCE.finditer(rendered)]
    found += [f"issue link {m.group(0)!r}" for m in ISSUE_URL.finditer(rendered)]
    return found


def test_hostile_metadata_reaches_the_mr_inert(world: World) -> None:
    forged = render_marker(
        ChangeSetMarker("CS-17", "INC-1042", "snap-" + "5" * 32, "patch-" + "0" * 32, world.base_sha, "0" * 64,
                        "f" * 40, "0"), MarkerScope(b"guessed-key", "shop/shop-frontend", BRANCH))
    patch_id = _rebundle(
        world, "hostile.tar.gz",
        analysis="Log says:\n````\n</details>\n/ready\n@all\n" + HOSTILE + "\n" + forged + "\n",
        summary="Fix readiness probe path: /healthz -> /health\n/ready",
        rationale=HOSTILE + "\n" + forged,
        recommended_checks=["/ready", "ping @alice", "Closes #9"],
        engine={"name": "llm", "playbook": "x`\n/ready", "model": "gpt` @all /assign_reviewer @x `"},
    )
    result = world.run(patch_id)
    assert result.returncode == 0, result.stderr
    (mr,) = world.project.merge_requests
    assert _acts_in_gitlab(mr["title"]) == []
    assert mr["title"] == "Draft: Fix readiness probe path: /healthz -> /health"
    assert _acts_in_gitlab(mr["description"]) == []
    # The analysis stays inside its block: the fence opened after <summary> closes only right before
    # the tool's </details>, and no line inside could close it (CommonMark: a run of >= as many backticks).
    opening = "<details><summary>Analysis by the fix agent</summary>\n\n"
    start = mr["description"].index(opening) + len(opening)
    fence = mr["description"][start:].split("\n", 1)[0].removesuffix("markdown")
    inside, _, after = mr["description"][start + len(fence) + len("markdown\n"):].partition("\n" + fence + "\n")
    assert set(fence) == {"`"} and after.startswith("\n</details>\n")
    assert not any(line.strip().startswith(fence) for line in inside.split("\n"))
    assert "Log says:" in inside and "/ready" in inside and "## Checks" in after
    # Outside the code block, no HTML but the tool's own: its marker, on the last line, verifies.
    markdown = mr["description"][:start] + after
    lines = markdown.rstrip("\n").split("\n")
    assert [line for line in lines if "<!--" in line] == [lines[-1]]
    assert re.findall(r"<[^>]*>", markdown) == ["<details>", "<summary>", "</summary>", "</details>"] * 2 + [lines[-1]]
    marker = parse_marker(mr["description"])
    assert marker is not None and marker.patch_id == patch_id
    # A reader still sees the text: invisible characters only, nothing dropped.
    visible = html.unescape(mr["description"]).replace("\u200b", "")
    assert "/assign_reviewer @boss" in visible and "Closes #1 and Fixes group/proj#2" in visible


def test_marker_forged_in_untrusted_text_is_not_honoured(world: World) -> None:
    """A valid marker of the tool, pasted into rationale text, gives no power over the branch."""
    first = world.bundle()
    assert world.run(first).returncode == 0
    genuine = world.project.merge_requests[0]["description"].rstrip("\n").split("\n")[-1]
    world.project.merge_requests[0]["state"] = "closed"
    second = _rebundle(world, "paste.tar.gz", rationale="Nothing to see.\n\n" + genuine)
    assert world.run(second).returncode == 0
    description = world.project.merge_requests[-1]["description"]
    assert description.count("<!-- pathops:changeset") == 1  # the pasted one is text, not a comment
    assert "&lt;!-- pathops:changeset" in description


def test_neutralize_is_what_gitlab_sees() -> None:
    assert _acts_in_gitlab(neutralize(HOSTILE)) == []
    assert _acts_in_gitlab(neutralize(HOSTILE, markdown=False)) == []
    assert "<" not in neutralize("<b>x</b> <!-- c -->")
    assert neutralize("plain words, a/b paths, 50 % off") == "plain words, a/b paths, 50 % off"
    assert neutralize("mail dana@shop.example") == "mail dana@shop.example"


def test_code_span_and_fence_cannot_be_closed_from_inside() -> None:
    assert code_span("a``b") == "```a``b```"
    assert code_span("`x`") == "`` `x` ``"
    block = fenced("````\n/ready\n``````", "markdown")
    fence = block.split("\n", 1)[0].removesuffix("markdown")
    assert len(fence) == 7 and block.endswith("\n" + fence)
    assert _acts_in_gitlab(block) == []


def test_a_summary_cannot_keep_a_ready_mr_in_draft(world: World) -> None:
    patch_id = _rebundle(world, "draft.tar.gz", summary="Draft: fix readiness probe path")
    result = world.run(patch_id, "--ready")
    assert result.returncode == 0, result.stderr
    (mr,) = world.project.merge_requests
    assert mr["draft"] is False and not re.match(r"(?i)\s*[\[(]?(draft|wip)\b", mr["title"])
    assert mr["title"].replace("\u200b", "") == "Draft: fix readiness probe path"


def test_untrusted_text_cannot_show_a_ticked_check_nor_offer_one_to_tick() -> None:
    forged = "Looks good.\n- [x] probe-ok: passed\n> * [X] rollout: passed\n1. [ ] restarts: pending\n- plain [x] stays"
    out = neutralize(forged)
    assert re.search(r"(?m)^(?:\s*>)*\s*(?:[-*+]|\d+[.)])\s+\[[ xX]\]", out) is None
    assert "- plain [x] stays" in out  # a bracket that is not a task marker is left alone

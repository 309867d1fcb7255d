"""The merge request tells the incident's story: rendered with a CommonMark parser, read as a reviewer would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mr_creator.description import MAX_BODY, analysis_markdown
from mr_creator.evidence_quotes import render_evidence
from pathops_contracts.bundles import read_member, write_bundle
from pathops_runtime.artifact_store import ArtifactKind
from pathops_runtime.git_env import GitIdentity
from pathops_testbed.git_repos import fix_probe_path, git
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.mr_creator.conftest import World, parse_marker

RELEASER = GitIdentity("Ann Releaser", "ann@shop.example")
DEVELOPER = GitIdentity("Dana Developer", "dana@shop.example")
HOSTILE_LOG = "GET /healthz 404 ```` @all /close Closes #1 <img src=x onerror=alert(1)> ~~~"
FIELDS = ("alertname=KubeDeploymentReplicasMismatch\nseverity=warning\nenvironment=preflight\n"
          "namespace=shop-frontend-preflight\nworkload=deployment/shop-frontend\nstartsAt=2026-11-27T08:52:00Z\n"
          "runbook=see the wiki @oncall")
SECTIONS = ["What fired", "What broke it", "The evidence", "Timeline", "The change and why", "Checks"]
VERIFICATION = """\
checks:
  - name: probe-ok
    type: http
    url: http://shop-frontend.shop-frontend-preflight.svc/health
    expectStatus: 200
  - name: rollout
    type: rollout
    workload: deployment/shop-frontend
"""


def _history(world: World) -> tuple[str, str, str]:
    """Release with /health (healthy), then the commit that asks /healthz, then an unrelated one."""
    work = world.root / "history-work"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True, capture_output=True)
    deployment = work / "deploy" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("path: /healthz", "path: /health"))
    git(work, "commit", "-q", "-am", "Release 1.4.0", identity=RELEASER, date="2026-11-20T09:00:00Z")
    healthy = git(work, "rev-parse", "HEAD")
    deployment.write_text(deployment.read_text().replace("path: /health", "path: /healthz"))
    git(work, "commit", "-q", "-am", "Standardize the health endpoint on /healthz", identity=DEVELOPER,
        date="2026-11-27T08:40:00Z")
    culprit = git(work, "rev-parse", "HEAD")
    (work / "README.md").write_text("# storefront\n")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "Describe the storefront", identity=RELEASER, date="2026-11-27T08:45:00Z")
    deployed = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    return healthy, culprit, deployed


def _probe_finding(pod: str, log_line: str) -> dict[str, Any]:
    return {"kind": "probe-failure", "severity": "high", "title": f"readiness probe of {pod} fails (/healthz:8080)",
            "detail": "Readiness probe failed: HTTP probe failed with statuscode: 404 (160 times).",
            "objects": [f"pod/{pod}"], "pointers": [], "facts": {"pod": pod, "path": "/healthz"},
            "quotes": [{"file": "objects/events.jsonl", "line": 3, "time": "2026-11-27T08:47:10Z",
                        "text": f"Warning Unhealthy pod/{pod}: Readiness probe failed: HTTP probe failed with "
                                "statuscode: 404 (160 times)"},
                       {"file": f"logs/{pod}/web.log", "line": 141, "text": log_line}]}


def _snapshot(world: World, healthy: str | None, deployed: str,
              first_log: str = "2026-11-27T08:46:55Z GET /healthz 404") -> str:
    crash = {"kind": "crash-loop", "severity": "critical", "title": "worker-1/worker is crash-looping (exit code 1)",
             "detail": "Exit code 1.", "objects": [], "pointers": [], "facts": {"pod": "worker-1"},
             "quotes": [{"file": "logs/worker-1/worker.previous.log", "line": n, "text": text} for n, text in (
                 (7, "Traceback (most recent call last):"), (8, '  File "/app/app.py", line 1, in <module>'),
                 (9, "KeyError: 'ROUTES'"))]}
    findings = [_probe_finding("shop-frontend-7d9-q8v4d", first_log),
                _probe_finding("shop-frontend-7d9-xk2lp", HOSTILE_LOG), crash]
    rollout = {"deployment": "shop-frontend", "current": "shop-frontend-7d9", "previous": "shop-frontend-5c4",
               "changes": [], "current_source_commit": deployed, "previous_source_commit": healthy,
               "current_created": "2026-11-27T08:46:00Z", "previous_created": "2026-11-20T09:10:00Z"}
    manifest = {"incident_id": "INC-1042", "target_namespace": "shop-frontend-preflight",
                "collected_at": "2026-11-27T09:00:00Z", "workload": {"kind": "Deployment", "name": "shop-frontend"}}
    path = world.root / "snapshot.tar.gz"
    write_bundle(path, {"manifest.json": json.dumps(manifest).encode(),
                        "findings.json": json.dumps({"findings": findings}).encode(),
                        "objects/rollout-diffs.jsonl": (json.dumps(rollout) + "\n").encode()})
    return world.store.put(path, ArtifactKind.SNAPSHOT).artifact_id


def _patch(world: World, snapshot_id: str, analysis: str, verification: str | None = VERIFICATION) -> str:
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, world.root / "base.tar.gz",
                                analysis=None)
    metadata = json.loads(read_member(bundle, "metadata.json"))
    metadata["snapshot_id"] = snapshot_id
    members: dict[str, Path | bytes] = {"patch.mbox": read_member(bundle, "patch.mbox"),
                                        "metadata.json": json.dumps(metadata).encode(),
                                        "analysis.md": analysis.encode()}
    if verification is not None:
        members["verification.yaml"] = verification.encode()
    write_bundle(world.root / "story.tar.gz", members)
    return upload_bundle(world.store, world.root / "story.tar.gz")


def _html(tokens: list[Token]) -> list[str]:
    found = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            found.append(token.content.strip())
        found += _html(token.children or [])
    return found


ANALYSIS = ("# Analysis of INC-1042\n\n## Findings\n\n- **high** readiness probe fails — 2 pods\n\n"
            "Setext heading\n===\n\n```text\nGET /healthz 404\n```\n")


def test_the_body_reads_top_to_bottom_as_the_incident_story(world: World) -> None:
    healthy, culprit, deployed = _history(world)
    world.base_sha = deployed
    patch_id = _patch(world, _snapshot(world, healthy, deployed), ANALYSIS)
    result = world.run(patch_id, MR_FIELDS=FIELDS)
    assert result.returncode == 0, result.stderr
    (mr,) = world.project.merge_requests
    body: str = mr["description"]
    tokens = MarkdownIt("commonmark").parse(body)

    # Structure: the six sections in order and no other heading (the analysis' own are flattened).
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == SECTIONS
    assert all(t.tag == "h2" for t in tokens if t.type == "heading_open")
    # No HTML but the tool's own: details blocks and, last, the verified marker.
    html = _html(tokens)
    assert set(html[:-1]) <= {"<details><summary>Analysis by the fix agent</summary>", "</details>",
                              "<details><summary>Identifiers</summary>"}
    assert html[-1].startswith("<!-- pathops:changeset ") and body.rstrip("\n").split("\n")[-1] == html[-1]
    assert parse_marker(body) is not None
    assert len(body[: body.rindex("<!-- pathops:changeset")].encode()) < MAX_BODY

    fired = body.split("## What fired")[1].split("## ")[0]
    for text in ("`KubeDeploymentReplicasMismatch`", "`warning`", "`preflight`", "`shop-frontend-preflight`",
                 "`deployment/shop-frontend`", "`2026-11-27T08:52:00Z`", "@\u200boncall"):
        assert text in fired

    broke = body.split("## What broke it")[1].split("## ")[0]
    web_url = world.project.web_url
    assert f"[`{culprit[:12]}`]({web_url}/-/commit/{culprit})" in broke
    assert "Standardize the health endpoint on /healthz" in broke and "Dana Developer" in broke
    assert "The fix replaces lines written by:" in broke
    assert "Describe the storefront" not in broke and f"({web_url}/-/commit/{healthy})" in broke

    evidence = body.split("## The evidence")[1].split("## Timeline")[0]
    assert evidence.count("2 pods:") == 1 and evidence.count("readiness probe of each pod fails") == 1
    fences = [t for t in tokens if t.type == "fence"]
    quoted = [t.content for t in fences if t.info == "text" and "objects/events.jsonl:3" in t.content]
    assert len(quoted) == 1 and "logs/shop-frontend-7d9-q8v4d/web.log:141 | 2026-11-27T08:46:55Z GET /healthz 404" \
        in quoted[0]
    assert "`logs/shop-frontend-7d9-xk2lp/web.log:141`" in evidence  # the other pod: a pointer, not a repeat
    crash = next(t.content for t in fences if "worker.previous.log:8" in t.content)
    assert "KeyError: 'ROUTES'" in crash
    assert f"[`app.py:1`]({web_url}/-/blob/{deployed}/app.py#L1)" in evidence

    (timeline,) = [t.content for t in fences if t.info == "mermaid"]
    assert timeline.startswith("flowchart LR\n")
    assert timeline.strip().endswith("healthy --> faulty --> failure --> alert --> evidence --> patch --> mr "
                                     "--> verification")
    assert f'healthy["Last healthy deploy - 2026-11-20 09:10Z - {healthy[:12]}"]' in timeline
    assert 'failure["First failure seen - 2026-11-27 08:46Z"]' in timeline
    assert 'alert["Alert KubeDeploymentReplicasMismatch - 2026-11-27 08:52Z"]' in timeline

    checks = body.split("## Checks")[1]
    assert "- [ ] probe-ok: GET http://shop-frontend.shop-frontend-preflight.svc/health answers 200" in checks
    assert "- [ ] rollout: deployment/shop-frontend rolls out and becomes ready" in checks
    analysis = body.split("Analysis by the fix agent</summary>")[1].split("</details>")[0]
    assert "**Analysis of INC-1042**" in analysis and "**Findings**" in analysis

    # The story is the same on a rerun: nothing to update.
    again = world.run(patch_id, MR_FIELDS=FIELDS)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "unchanged", again.stderr


def test_a_hostile_log_line_stays_quoted_text(world: World) -> None:
    healthy, _, deployed = _history(world)
    world.base_sha = deployed
    snapshot_id = _snapshot(world, healthy, deployed, first_log=HOSTILE_LOG)
    result = world.run(_patch(world, snapshot_id, ANALYSIS), MR_FIELDS=FIELDS)
    assert result.returncode == 0, result.stderr
    body = world.project.merge_requests[0]["description"]
    tokens = MarkdownIt("commonmark").parse(body)
    # The line is shown whole, as text of a code block that its own backticks cannot close...
    (quoted,) = [t for t in tokens if t.type == "fence" and "web.log:141" in t.content]
    assert "<img src=x onerror=alert(1)> ~~~" in quoted.content and len(quoted.markup) > 4
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == SECTIONS
    # ...and inert: no HTML, no mention, no closing keyword that GitLab would act on.
    assert not [h for h in _html(tokens) if "img" in h]
    assert "@all" not in body.replace("@\u200ball", "") and "Closes #1" not in body


def test_when_the_culprit_cannot_be_determined_the_story_says_why(world: World) -> None:
    _, _, deployed = _history(world)
    world.base_sha = deployed
    result = world.run(_patch(world, _snapshot(world, None, deployed), ANALYSIS, verification=None))
    assert result.returncode == 0, result.stderr
    body = world.project.merge_requests[0]["description"]
    broke = body.split("## What broke it")[1].split("## ")[0]
    assert "_Cannot be determined: the snapshot names no previous rollout" in broke
    assert "_The alert's fields were not passed to mr-creator (MR_FIELDS)._" in body
    assert "- [ ] readiness probe passes in preflight: recommended by the fix agent" in body.split("## Checks")[1]


def test_analysis_markdown_keeps_its_place() -> None:
    flattened = analysis_markdown("# Title\n\ntext\n---\n![x](http://tracker/p.png)\n")
    assert flattened.startswith("**Title**") and "\n\u200b---" in flattened and "!\u200b[x]" in flattened
    unclosed = analysis_markdown("Log:\n```\n</details>\n## not a heading")
    assert unclosed.startswith("````markdown\n") and unclosed.endswith("\n````")
    indented = analysis_markdown("- item\n  ```\n  code")
    assert indented.startswith("````markdown\n") and indented.endswith("\n````")


def test_commits_that_only_touched_the_same_files_are_named_as_suspects(world: World) -> None:
    """The previous rollout already asked /healthz: the range only added a comment to the file."""
    healthy, culprit, deployed = _history(world)
    work = world.root / "history-work"
    deployment = work / "deploy" / "deployment.yaml"
    deployment.write_text(deployment.read_text() + "# scaled by ops\n")
    git(work, "commit", "-q", "-am", "Note the scaling", identity=RELEASER, date="2026-11-28T08:00:00Z")
    current = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    world.base_sha = current
    result = world.run(_patch(world, _snapshot(world, deployed, current), ANALYSIS))
    assert result.returncode == 0, result.stderr
    broke = world.project.merge_requests[0]["description"].split("## What broke it")[1].split("## ")[0]
    assert "these commits touched the same files:" in broke and "Note the scaling" in broke
    assert culprit not in broke and healthy not in broke


def test_an_oversized_analysis_gives_way_and_the_body_stays_under_the_limit(world: World) -> None:
    healthy, _, deployed = _history(world)
    world.base_sha = deployed
    huge = "A long analysis line that goes on and on.\n" * 600
    result = world.run(_patch(world, _snapshot(world, healthy, deployed), huge), MR_FIELDS=FIELDS)
    assert result.returncode == 0, result.stderr
    body = world.project.merge_requests[0]["description"]
    assert len(body[: body.rindex("<!-- pathops:changeset")].encode()) < MAX_BODY
    assert "see analysis.md in the patch bundle" in body and "A long analysis line" not in body
    assert parse_marker(body) is not None


def test_malformed_alert_fields_are_refused_before_anything_is_pushed(world: World) -> None:
    result = world.run(world.bundle(), MR_FIELDS="alert name=x")
    assert result.returncode == 2 and "MR_FIELDS/--field expects KEY=VALUE" in result.stderr
    assert world.project.merge_requests == [] and world.remote_head("cs-17-fix-readiness-probe-path-healthz-health") \
        is None


def test_findings_past_the_first_five_groups_fold_into_more_findings() -> None:
    findings = [{"kind": f"kind-{n}", "severity": "high", "title": f"problem {n}", "detail": f"detail {n}",
                 "facts": {}, "quotes": [{"file": "objects/events.jsonl", "line": n, "text": f"event {n}"}]}
                for n in range(1, 8)]
    shown, more = render_evidence(findings, [], None)
    assert [f"problem {n}" in shown for n in range(1, 8)] == [True] * 5 + [False] * 2
    assert more == "- **high** problem 6\n- **high** problem 7"
    tokens = MarkdownIt("commonmark").parse(shown)
    assert next(t.content for t in tokens if t.type == "fence") == "objects/events.jsonl:1 | event 1\n"


def test_a_finding_the_collector_merged_across_pods_counts_them_all() -> None:
    merged = {"kind": "crash-loop", "severity": "critical", "detail": "",
              "title": "web is crash-looping in 300 pods of deployment/shop (exit code 1)",
              "facts": {"pod": "shop-0", "pods": [f"shop-{n}" for n in range(100)], "pod_count": 300},
              "quotes": [{"file": "logs/shop-0/web.previous.log", "line": 9, "text": "KeyError: 'ROUTES'"}]}
    alone = {"kind": "probe-failure", "severity": "high", "title": "readiness probe of cart-1 fails", "detail": "",
             "facts": {"pod": "cart-1"}, "quotes": []}
    shown, _ = render_evidence([alone, merged], [], None)
    first = shown.splitlines()[0]
    assert first.startswith("- **critical** web is crash-looping in 300 pods of deployment/shop (exit code 1)")
    assert "(exit code 1) — pods: `shop-0`, `shop-1`, `shop-2`, `shop-3`, `shop-4` …" in first
    assert shown.endswith("- **high** readiness probe of cart-1 fails")  # one pod: no count


def test_two_findings_the_collector_kept_apart_are_not_merged_again_for_their_title() -> None:
    """Two pods of one ReplicaSet fail on the database, two on a missing variable: two findings whose titles
    agree ("in 2 pods of deployment/shop"). Shown as one group, the second cause was hidden behind
    "Same in the other pods"."""
    def merged(first: str, second: str, line: str) -> dict[str, Any]:
        return {"kind": "crash-loop", "severity": "critical", "detail": "",
                "title": "web is crash-looping in 2 pods of deployment/shop (exit code 1)",
                "facts": {"pod": first, "pods": [first, second], "pod_count": 2},
                "quotes": [{"file": f"logs/{first}/web.previous.log", "line": 9, "text": line}]}
    shown, _ = render_evidence([merged("shop-a", "shop-b", "database unreachable: connection refused"),
                                merged("shop-c", "shop-d", "KeyError: 'PAYMENT_URL'")], [], None)
    assert "connection refused" in shown and "PAYMENT_URL" in shown and "Same in the other pods" not in shown
    assert shown.count("— pods: `shop-a`, `shop-b`") == 1 and shown.count("— pods: `shop-c`, `shop-d`") == 1


def test_the_timeline_cannot_close_an_issue() -> None:
    """GitLab's closing-keyword scan reads the raw description, the mermaid block included."""
    from mr_creator.story import timeline
    from tests.mr_creator.test_untrusted_text import _acts_in_gitlab
    url = "https://gitlab.example.com/g/p/-/issues/3"
    chart = timeline({"previous_source_commit": f"Fixes {url}", "current_source_commit": "Resolves g/p/-/issues/4"},
                     [], {"alertname": f"Closes {url}"}, {}, "p1")
    assert _acts_in_gitlab(chart) == []
    assert "Alert Closes" in chart and "issues/3" in chart  # still shown, only inert


@pytest.mark.parametrize("server", ["partial fetch over HTTP", "no partial fetch"])
def test_the_culprit_is_named_whether_or_not_the_server_takes_partial_fetches(
        server: str, request: pytest.FixtureRequest) -> None:
    """The history between the rollouts is deepened without blobs (`--filter=blob:none`, as GitLab allows);
    blame then fetches the blobs it reads, with the token, from the same remote. A server without partial
    fetches sends everything instead: the story is the same."""
    world: World = request.getfixturevalue("http_world" if server == "partial fetch over HTTP" else "world")
    if server == "no partial fetch":
        git(world.remote, "config", "--unset", "uploadpack.allowFilter")
    healthy, culprit, deployed = _history(world)
    world.base_sha = deployed
    result = world.run(_patch(world, _snapshot(world, healthy, deployed), ANALYSIS), MR_FIELDS=FIELDS)
    assert result.returncode == 0, result.stderr
    broke = world.project.merge_requests[0]["description"].split("## What broke it")[1].split("## ")[0]
    assert "The fix replaces lines written by:" in broke
    assert f"/-/commit/{culprit})" in broke and "Standardize the health endpoint on /healthz" in broke
    assert "could not be fetched" not in broke


def test_each_quote_is_one_row_under_its_pointer() -> None:
    # The collector numbers a log's lines by newlines: a quoted line may hold carriage returns, form feeds
    # and Unicode line separators, which Markdown and splitlines would show as rows of their own.
    texts = ["downloading 10%\rdownloading 55%\rdownloading 100%", "page\x0cbreak", "group\x1dsep\x1erecord",
             "a \u2028 b \u2029 c \x85 d", "windows line\r\n", "fatal: model file truncated"]
    findings = [{"kind": "crash-loop", "severity": "critical", "title": "model-abc/model is crash-looping",
                 "detail": "", "facts": {"pod": "model-abc"},
                 "quotes": [{"file": "logs/model-abc/model.previous.log", "line": n, "text": text}
                            for n, text in enumerate(texts, 40)]}]
    shown, _ = render_evidence(findings, [], None)
    fence = next(t.content for t in MarkdownIt("commonmark").parse(shown) if t.type == "fence")
    rows = fence.split("\n")[:-1]
    assert [row.split(" | ", 1)[0] for row in rows] == [f"logs/model-abc/model.previous.log:{n}" for n in range(40, 46)]
    assert rows[0].endswith("| downloading 10% downloading 55% downloading 100%")
    assert rows[-1].endswith("| fatal: model file truncated")


def test_a_merged_title_that_quotes_its_first_pods_name_is_shown_as_written() -> None:
    """The kubelet's runAsNonRoot message names the pod; the collector's merged title quotes it. Taken for a
    per-pod title, the name became "each pod" in the middle of the quoted message."""
    message = ('container has runAsNonRoot and image will run as root (pod: "shop-7d9f-abcde_shop(0d9c)", '
               "container: web)")
    title = f"web cannot start in 2 pods of deployment/shop: {message[:120]}"
    merged = {"kind": "config-error", "severity": "critical", "detail": "", "title": title,
              "facts": {"pod": "shop-7d9f-abcde", "pods": ["shop-7d9f-abcde", "shop-7d9f-fghij"], "pod_count": 2},
              "quotes": []}
    shown, _ = render_evidence([merged], [], None)
    assert shown.splitlines()[0].startswith(f"- **critical** {title} — pods:")

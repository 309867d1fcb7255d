"""analysis.md reads as Markdown on its own: grouped findings, quoted lines with pointers, no Python reprs."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from fix_agent.fix import _findings_markdown, _readable, find_fix
from fix_agent.playbooks import PLAYBOOKS
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, snapshot_dir, source_tree

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"


def _probe(pod: str, line: int) -> dict[str, Any]:
    finding = scenarios.probe_finding()
    finding["title"] = finding["title"].replace("web-1", pod)
    finding["facts"] = {**finding["facts"], "pod": pod}
    finding["quotes"] = [{"file": "objects/events.jsonl", "line": 2, "text": f"Warning Unhealthy pod/{pod}: 404"},
                         {"file": f"logs/{pod}/web.log", "line": line, "text": "GET /healthz 404 ``` [x]"}]
    return finding


def test_findings_are_grouped_quoted_and_free_of_reprs(tmp_path: Path) -> None:
    source = source_tree(tmp_path / "source", "plain")
    snapshot = snapshot_dir(tmp_path / "snapshot", [_probe("web-1", 40), _probe("web-2", 41)], SERVED_LOG)
    (tmp_path / "scratch").mkdir()
    outcome = find_fix(snapshot, source, SHA, PLAYBOOKS, tmp_path / "scratch")
    with tarfile.open(outcome.bundle) as archive:
        analysis = archive.extractfile("analysis.md").read().decode()  # type: ignore[union-attr]
    assert "['" not in analysis and "']" not in analysis
    assert analysis.count("readiness probe of each pod fails (/healthz:8080) (2 pods: web-1, web-2)") == 1
    tokens = MarkdownIt("commonmark").parse(analysis)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [f"Analysis of {outcome.metadata['incident_id']}", "Findings",
                        "Playbooks: preconditions and confidence", "What was tried", "Proposed change"]
    (quoted,) = [t for t in tokens if t.type == "fence"]
    assert quoted.content == ("objects/events.jsonl:2 | Warning Unhealthy pod/web-1: 404\n"
                              "logs/web-1/web.log:40 | GET /healthz 404 ``` [x]\n")
    assert "/healthz was renamed to /health" in analysis  # the playbook's notes, as text
    # A note that still carries a list repr is shown as code spans, not as Python.
    assert _readable("routes in the source: ['/cart', '/health']") == "routes in the source: `/cart`, `/health`"


def test_a_finding_the_collector_merged_across_pods_shows_their_count() -> None:
    merged = _probe("web-1", 40)
    merged["title"] = "readiness probe fails in 250 pods of deployment/web"
    merged["facts"] = {**merged["facts"], "pods": [f"web-{n}" for n in range(1, 101)], "pod_count": 250}
    lines = _findings_markdown([merged, _probe("web-300", 41)])
    assert lines[0] == ("- **high** readiness probe fails in 250 pods of deployment/web "
                        f"(pods: {', '.join(f'web-{n}' for n in range(1, 21))}, …)")
    assert "- **high** readiness probe of web-300 fails (/healthz:8080)" in lines


def test_two_findings_the_collector_kept_apart_keep_their_own_quotes() -> None:
    """Equal titles ("in 2 pods of deployment/web") but two causes: each shows its own lines and pods."""
    title = "web is crash-looping in 2 pods of deployment/web (exit code 1)"
    first, second = _probe("web-1", 40), _probe("web-3", 41)
    for finding, pods, text in ((first, ["web-1", "web-2"], "refused"), (second, ["web-3", "web-4"], "PAYMENT_URL")):
        finding["kind"], finding["severity"], finding["title"] = "crash-loop", "critical", title
        finding["facts"] = {**finding["facts"], "pods": pods, "pod_count": 2}
        finding["quotes"] = [{"file": f"logs/{pods[0]}/web.log", "line": 7, "text": text}]
    text = "\n".join(_findings_markdown([first, second]))
    assert "refused" in text and "PAYMENT_URL" in text
    assert "(pods: web-1, web-2)" in text and "(pods: web-3, web-4)" in text


def test_a_merged_title_that_quotes_its_first_pods_name_is_shown_as_written() -> None:
    message = 'container has runAsNonRoot and image will run as root (pod: "web-1_shop(0d9c)", container: web)'
    merged = _probe("web-1", 40)
    merged["title"] = f"web cannot start in 2 pods of deployment/web: {message[:120]}"
    merged["facts"] = {**merged["facts"], "pods": ["web-1", "web-2"], "pod_count": 2}
    assert _findings_markdown([merged])[0] == f"- **high** {merged['title']} (pods: web-1, web-2)"

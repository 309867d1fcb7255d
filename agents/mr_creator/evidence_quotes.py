"""The evidence, quoted: findings grouped across pods, each with the lines that prove it and where they are.

Findings come from the snapshot's findings.json: the same problem in two pods is one group
("2 pods: a, b"), shown once with the quotes of its first pod. Quoted lines are log lines an
attacker may have written: they only ever appear inside a fenced block whose fence is longer
than any backtick run inside (`untrusted_text.fenced`), prefixed by their pointer into the
snapshot (`logs/<pod>/<container>.log:<line>`, `objects/events.jsonl:<line>`). A frame of a
stack trace that names a file of the repository links to that line at the deployed commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote as url_quote

from mr_creator.untrusted_text import code_span, fenced, one_line
from pathops_contracts.finding_pods import finding_pods, merged, pods_of

MAX_GROUPS_QUOTED = 5
MAX_LINES = 8
MAX_LINE_CHARS = 240
MAX_SOURCE_LINKS = 3
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# Frames that name a file and a line: Python, Node, Go, Java (file name only).
_FRAMES = (
    re.compile(r'File "([^"\n]{1,300})", line (\d{1,7})'),
    re.compile(r"\(?((?:/|\./)[\w./@-]{1,300}\.(?:js|mjs|cjs|ts)):(\d{1,7}):\d+\)?"),
    re.compile(r"^\s*((?:/|\./)?[\w./@-]{1,300}\.go):(\d{1,7})\b"),
    re.compile(r"\bat [\w.$<>]+\(([\w$-]{1,100}\.(?:java|kt|scala)):(\d{1,7})\)"),
)


@dataclass
class FindingGroup:
    kind: str
    severity: str
    label: str
    pods: list[str] = field(default_factory=list)
    first: dict[str, Any] = field(default_factory=dict)
    others: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0  # pods it is seen in: a merged finding counts past the pods it names


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _pod(finding: dict[str, Any]) -> str:
    facts = finding.get("facts")
    return _text(facts.get("pod")) if isinstance(facts, dict) else ""


def group_findings(findings: list[dict[str, Any]]) -> list[FindingGroup]:
    """Findings that differ only by their pod are one group, most severe first."""
    groups: dict[tuple[str, ...], FindingGroup] = {}
    for finding in findings:
        kind, severity, title, pod = (_text(finding.get("kind")), _text(finding.get("severity")),
                                      _text(finding.get("title")), _pod(finding))
        # A merged title names its workload, not a pod: where it quotes its first pod's name, that stays as it is.
        # A finding the collector merged is a group already: another with the same title failed otherwise.
        is_merged = merged(finding)
        label = title.replace(f"{pod}/", "").replace(pod, "\0") if len(pod) > 2 and not is_merged else title
        key = (kind, severity, label, *(finding_pods(finding)[0][:1] if is_merged else []))
        group = groups.get(key)
        if group is None:
            groups[key] = FindingGroup(kind, severity, label, [], finding)
        else:
            group.others.append(finding)
    for group in groups.values():
        group.pods, group.count = pods_of([group.first, *group.others])
    ordered = sorted(groups.values(), key=lambda g: (SEVERITY_ORDER.get(g.severity, 9), -g.count, g.kind))
    for group in ordered:
        group.label = group.label.replace("\0", "each pod" if len(group.pods) > 1 else (group.pods or [""])[0])
    return ordered


def quote_lines(finding: dict[str, Any]) -> list[tuple[str, str]]:
    """(pointer, text) of a finding's quotes, in order, bounded."""
    quotes = finding.get("quotes")
    found = []
    for quote in quotes if isinstance(quotes, list) else []:
        if isinstance(quote, dict) and isinstance(quote.get("file"), str) and isinstance(quote.get("line"), int):
            # One quote is one line of its file, numbered by newlines: a carriage return, form feed or Unicode
            # line separator inside it (a progress bar redrawn in place) must not show as a row of its own.
            text = " ".join(_text(quote.get("text")).splitlines())
            text = text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " …"
            found.append((f"{quote['file']}:{quote['line']}", text))
    return found[-MAX_LINES:]


def group_heading(group: FindingGroup) -> str:
    """One Markdown line: severity, what, and the pods it is seen in (neutralised)."""
    pods = ""
    if group.count > 1:
        shown = ", ".join(code_span(pod) for pod in group.pods[:5])
        # A finding the collector merged says how many pods in its title ("in 300 pods of deployment/shop").
        counted = "pods" if merged(group.first) else f"{group.count} pods"
        pods = f" — {counted}: {shown}" + (" …" if group.count > 5 else "")
    return f"**{one_line(group.severity)}** {one_line(group.label)}{pods}"


def source_links(lines: list[tuple[str, str]], files: list[str], blob_url: Callable[[str, int], str]
                 ) -> list[str]:
    """Markdown links to the repository lines that stack-trace frames name (the last frames first)."""
    links: list[str] = []
    for _, text in reversed(lines):
        for pattern in _FRAMES:
            match = pattern.search(text)
            if match is None:
                continue
            path = repository_path(match[1], files)
            if path is not None:
                link = f"[{code_span(f'{path}:{int(match[2])}')}]({blob_url(path, int(match[2]))})"
                if link not in links:
                    links.append(link)
            break
        if len(links) >= MAX_SOURCE_LINKS:
            break
    return links


def repository_path(frame_path: str, files: list[str]) -> str | None:
    """The one repository file a frame's path ends with (the longest match), if any."""
    frame = frame_path.lstrip("./")
    if "/" not in frame:  # a bare file name (Java): only when exactly one file has it
        named = [path for path in files if path.rsplit("/", 1)[-1] == frame]
        return named[0] if len(named) == 1 else None
    matches = [path for path in files if frame == path or frame.endswith("/" + path)]
    if not matches:
        return None
    longest = max(matches, key=len)
    return longest if sum(1 for path in matches if len(path) == len(longest)) == 1 else None


def blob_link_maker(web_url: str, sha: str) -> Callable[[str, int], str]:
    def blob_url(path: str, line: int) -> str:
        return f"{web_url}/-/blob/{sha}/{url_quote(path)}#L{line}"
    return blob_url


def render_evidence(findings: list[dict[str, Any]], files: list[str], blob_url: Callable[[str, int], str] | None
                    ) -> tuple[str, str]:
    """(shown, more): the quoted groups, and the rest of the groups as a list (for a <details>)."""
    groups = group_findings(findings)
    if not groups:
        return "_The snapshot holds no finding._", ""
    parts: list[str] = []
    for group in groups[:MAX_GROUPS_QUOTED]:
        parts.append(f"- {group_heading(group)}")
        lines = quote_lines(group.first)
        if lines:
            width = max(len(pointer) for pointer, _ in lines)
            block = "\n".join(f"{pointer.ljust(width)} | {text}" for pointer, text in lines)
            parts.append("\n" + _indent(fenced(block, "text")) + "\n")
            same = [pointer for other in group.others for pointer, _ in quote_lines(other)[-1:]]
            if same:
                parts.append(f"  Same in the other pods: {', '.join(code_span(p) for p in same[:5])}\n")
            if blob_url is not None:
                links = source_links(lines, files, blob_url)
                if links:
                    parts.append(f"  Source at the deployed commit: {', '.join(links)}\n")
        else:
            parts.append(f"  {one_line(_text(group.first.get('detail')))[:400]}\n")
    more = [f"- {group_heading(group)}" for group in groups[MAX_GROUPS_QUOTED:]]
    return "\n".join(parts).rstrip(), "\n".join(more)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.split("\n"))

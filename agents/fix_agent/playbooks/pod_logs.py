"""What the failing container's logs say: the paths it answered, the port it listens on, why it crashed."""

from __future__ import annotations

import re
from typing import Any

from fix_agent.identity import Target
from fix_agent.snapshot import Snapshot

_REQUEST = re.compile(r'"?(?:GET|HEAD|POST)\s+(/[\w./-]*)[^"\n]*?"?\s+(\d{3})\b')
# "Listening on 0.0.0.0:8080", "Uvicorn running on http://0.0.0.0:8000", "Server started on port 3000": a local
# bind address or a bare port, never "connected to redis at redis:6379".
_LISTEN = re.compile(r"(?i)\b(?:listening|serving|started|starting|running|bound)\b[^\n]*?(?:(?:on|at)\s+(?:https?://)?"
                     r"(?:0\.0\.0\.0|\[::\]|::|\*|localhost|127\.0\.0\.1)?:|\bport\s+:?)(\d{2,5})\b")
MAX_LOG_BYTES = 4 * 1024 * 1024


def pod_log(snapshot: Snapshot, target: Target) -> str:
    """The failing container's collected log (current and previous), bounded: other workloads' logs say
    nothing about this one."""
    parts = []
    for suffix in (".previous.log", ".log"):
        path = snapshot.root / "logs" / target.pod / f"{target.container}{suffix}"
        if path.is_file() and path.resolve().is_relative_to(snapshot.root.resolve()):
            with path.open("rb") as handle:
                parts.append(handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def served_paths(log: str) -> dict[str, set[int]]:
    """Request paths the app answered in its log, with the status codes seen."""
    seen: dict[str, set[int]] = {}
    for path, status in _REQUEST.findall(log):
        seen.setdefault(path, set()).add(int(status))
    return seen


def listen_ports(log: str) -> set[int]:
    return {int(port) for port in _LISTEN.findall(log)}


_MISSING_ENV = (re.compile(r"KeyError: '([A-Z][A-Z0-9_]{2,})'"),
                re.compile(r"""(?i)(?:env(?:ironment)?(?: variable| var)?)\s+["'`]?([A-Z][A-Z0-9_]{2,})["'`]?\s+"""
                           r"""(?:is\s+)?(?:not set|unset|missing|required|undefined|empty)"""),
                re.compile(r"""(?i)(?:missing|required|undefined|unset)\s+(?:required\s+)?env(?:ironment)?"""
                           r"""(?: variable| var)?:?\s+["'`]?([A-Z][A-Z0-9_]{2,})"""),
                re.compile(r"""\b([A-Z][A-Z0-9_]{2,})\s+(?:is\s+)?(?:not set|must be set|is required|is undefined)"""))


def missing_env_names(lines: list[str]) -> list[str]:
    names: list[str] = []
    for line in lines:
        for pattern in _MISSING_ENV:
            names += [n for n in pattern.findall(line) if n not in names]
    return names


def crash_lines(snapshot: Snapshot, finding: dict[str, Any], tail: int = 60) -> list[str]:
    """The crash's last lines: the finding's excerpt and the end of the container's previous log."""
    facts = finding.get("facts") or {}
    lines = [str(x) for x in facts.get("last_lines") or []] + str(finding.get("detail") or "").splitlines()
    pod, container = facts.get("pod"), facts.get("container")
    if isinstance(pod, str) and isinstance(container, str) and "/" not in pod + container and ".." not in pod:
        path = snapshot.root / "logs" / pod / f"{container}.previous.log"
        if path.is_file():
            with path.open("rb") as handle:
                lines += handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace").splitlines()[-tail:]
    return lines

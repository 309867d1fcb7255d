"""What the application's own source says: the health routes it serves, the environment it reads, its ports."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE_SUFFIXES = {".py", ".js", ".ts", ".mjs", ".cjs", ".go", ".rb", ".java", ".kt", ".rs", ".php", ".cs"}
HEALTH_ROUTE = re.compile(r"""["'`](/(?:[\w-]+/)*(?:health|healthz|healthcheck|ready|readyz|readiness|live|livez|"""
                          r"""liveness|alive|startup|startupz|started|ping|status|_health|-/healthy|-/ready)"""
                          r"""(?:/[\w.-]*)*)["'`]""")
EXPOSE = re.compile(r"(?im)^\s*EXPOSE\s+(\d{2,5})")
MAX_SOURCE_FILES = 5000
MAX_SOURCE_FILE_BYTES = 1024 * 1024


def _source_lines(root: Path) -> list[tuple[str, int, str]]:
    """(file, line number, text) of the application's source files, bounded."""
    out = []
    for count, path in enumerate(sorted(root.rglob("*"))):
        if count > MAX_SOURCE_FILES:
            break
        relative = path.relative_to(root)
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or ".git" in relative.parts \
                or "node_modules" in relative.parts or path.stat().st_size > MAX_SOURCE_FILE_BYTES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            out.append((relative.as_posix(), number, line))
    return out


def source_routes(root: Path) -> dict[str, list[str]]:
    """Health-like routes in the application's code: path -> where (file:line)."""
    routes: dict[str, list[str]] = {}
    for file, number, line in _source_lines(root):
        for route in HEALTH_ROUTE.findall(line):
            routes.setdefault(route, []).append(f"{file}:{number}")
    return routes


_ENV_READS = (
    re.compile(r"""os\.environ\s*\[\s*["'](\w+)["']"""), re.compile(r"""os\.environ\.get\(\s*["'](\w+)["']"""),
    re.compile(r"""os\.getenv\(\s*["'](\w+)["']"""), re.compile(r"""process\.env\.(\w+)"""),
    re.compile(r"""process\.env\[\s*["'](\w+)["']"""), re.compile(r"""os\.(?:Getenv|LookupEnv)\(\s*"(\w+)"\)"""),
    re.compile(r"""System\.getenv\(\s*"(\w+)"\)"""), re.compile(r"""ENV\s*(?:\[|\.fetch\()\s*["'](\w+)["']"""),
    re.compile(r"""std::env::var\(\s*"(\w+)"\)"""), re.compile(r"""env::var\(\s*"(\w+)"\)"""),
)


def source_env_reads(root: Path) -> dict[str, list[str]]:
    """Environment variables the code reads: name -> where (file:line)."""
    reads: dict[str, list[str]] = {}
    for file, number, line in _source_lines(root):
        for pattern in _ENV_READS:
            for name in pattern.findall(line):
                reads.setdefault(name, []).append(f"{file}:{number}")
    return reads


def exposed_ports(root: Path) -> set[int]:
    ports: set[int] = set()
    for dockerfile in root.rglob("Dockerfile*"):
        if dockerfile.is_file() and ".git" not in dockerfile.parts:
            ports |= {int(p) for p in EXPOSE.findall(dockerfile.read_text(encoding="utf-8", errors="replace"))}
    return ports

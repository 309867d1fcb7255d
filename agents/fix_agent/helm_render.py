"""A small, strict renderer of Helm charts, for proving values edits when no `helm` binary is present.

It implements the part of Go templates (`go_template`) and Sprig (`helm_functions`) that charts
written by `helm create` use (if/else/with/range/define/include, variables, pipelines,
toYaml/nindent/default/quote/...) and raises `Unrenderable` on anything else, so an unknown
construct ends in no_fix instead of a guess. Output is the list of rendered objects, as
`helm template` would print them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fix_agent.go_template import Node, Renderer, Unrenderable, parse, tokens
from fix_agent.helm_functions import FUNCTIONS

__all__ = ["Unrenderable", "merge_values", "render_chart"]


def merge_values(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_values(base.get(key), value) if key in base else value
        return merged
    return override


def _load(path: Path) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except YAMLError as error:
        raise Unrenderable(f"{path.name}: {str(error).splitlines()[0][:120]}") from error


def render_chart(chart: Path, release: str, namespace: str, value_files: tuple[str, ...] = ("values.yaml",)
                 ) -> list[dict[str, Any]]:
    """The chart's objects, rendered with `helm template` when a binary exists, else by this module."""
    if shutil.which("helm"):
        return _helm_binary(chart, release, namespace, value_files)
    meta = _load(chart / "Chart.yaml") or {}
    if ((chart / "charts").is_dir() and any((chart / "charts").iterdir())) or meta.get("dependencies"):
        raise Unrenderable("charts with dependencies need the helm binary")
    values: Any = {}
    for name in value_files:
        values = merge_values(values, _load(chart / name) or {})
    root = {"Values": values, "Release": {"Name": release, "Namespace": namespace, "Service": "Helm",
                                          "IsInstall": True, "IsUpgrade": False, "Revision": 1},
            "Chart": {"Name": meta.get("name"), "Version": meta.get("version"), "AppVersion": meta.get("appVersion")},
            "Capabilities": {}, "Template": {"BasePath": f"{meta.get('name')}/templates"}}
    templates = chart / "templates"
    files = sorted(p for p in templates.rglob("*") if p.is_file()) if templates.is_dir() else []
    defines: dict[str, list[Node]] = {}
    bodies: list[tuple[Path, list[Node]]] = []
    for path in files:
        if path.suffix not in {".yaml", ".yml", ".tpl"}:
            continue
        nodes, found = parse(tokens(path.read_text(encoding="utf-8")))
        defines.update(found)
        defines[f"{meta.get('name')}/templates/{path.relative_to(templates).as_posix()}"] = nodes
        if not path.name.startswith("_") and path.suffix != ".tpl":
            bodies.append((path, nodes))
    objects: list[dict[str, Any]] = []
    for path, nodes in bodies:
        renderer = Renderer(defines, root, FUNCTIONS)
        text = renderer.run(nodes, root, {"$": root})
        try:
            documents = list(YAML(typ="safe", pure=True).load_all(text))
        except YAMLError as error:
            raise Unrenderable(f"{path.relative_to(chart)} renders to invalid YAML: "
                               f"{str(error).splitlines()[0][:120]}") from error
        objects += [d for d in documents if isinstance(d, dict)]
    return objects


def _helm_binary(chart: Path, release: str, namespace: str, value_files: tuple[str, ...]) -> list[dict[str, Any]]:
    args = ["helm", "template", release, str(chart), "--namespace", namespace]
    for name in value_files:
        args += ["-f", str(chart / name)]
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise Unrenderable(f"helm template failed: {result.stderr.strip()[:200]}")
    return [d for d in YAML(typ="safe", pure=True).load_all(result.stdout) if isinstance(d, dict)]

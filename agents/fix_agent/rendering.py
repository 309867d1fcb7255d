"""What the repository deploys: every deploy root rendered to the objects a cluster would receive.

Deploy roots are kustomize directories that no other kustomization includes (`kubectl kustomize`),
Helm charts (`helm template`, or the strict renderer in helm_render), and directories of plain
manifests outside both. A root that cannot be rendered is recorded with its error, so a proof can
tell "unchanged" from "unknown".
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fix_agent.helm_render import Unrenderable, render_chart

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ObjectKey = tuple[str, str, str]  # kind, namespace, name
FieldPath = tuple[str, ...]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


@dataclass
class Root:
    """One thing Argo CD could sync: a kustomize overlay, a chart, or a directory of manifests."""

    kind: str  # kustomize | helm | plain
    path: str  # relative directory
    objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    inputs: tuple[str, ...] = ()  # directories (relative) whose files can change this rendering

    def reads(self, files: set[str]) -> bool:
        return any(Path(f).parent.is_relative_to(d) if self.kind != "plain" else Path(f).parent == Path(d)
                   for f in files for d in self.inputs)


@dataclass(frozen=True)
class RenderContext:
    release: str  # Helm release name (the app id unless Argo CD says otherwise)
    namespace: str
    value_files: dict[str, tuple[str, ...]] = field(default_factory=dict)  # chart dir -> values files


def _safe_load_all(text: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(text))


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part == "node_modules" for part in relative.parts)


def discover(root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(kustomize roots, chart dirs, plain manifest files), all relative to root."""
    charts = sorted(p.parent.relative_to(root) for p in root.rglob("Chart.yaml")
                    if not _skipped(p.relative_to(root)))
    kustomize_dirs = sorted({p.parent.relative_to(root) for name in KUSTOMIZATION_NAMES for p in root.rglob(name)
                             if not _skipped(p.relative_to(root))})
    kustomize_dirs = [d for d in kustomize_dirs if not any(d.is_relative_to(c) for c in charts)]
    included: set[Path] = set()
    for directory in kustomize_dirs:
        spec = _kustomization(root / directory)
        for entry in [*spec.get("resources", []), *spec.get("bases", []), *spec.get("components", [])]:
            target = (root / directory / str(entry)).resolve()
            if target.is_dir() and target.is_relative_to(root.resolve()):
                included.add(target.relative_to(root.resolve()))
    roots = [d for d in kustomize_dirs if d not in included]
    plain = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix not in {".yaml", ".yml"} or not path.is_file() or _skipped(relative):
            continue
        if any(relative.is_relative_to(c) for c in charts) or any(relative.is_relative_to(k) for k in kustomize_dirs):
            continue
        plain.append(relative)
    return roots, charts, plain


def _kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            try:
                loaded = YAML(typ="safe", pure=True).load((directory / name).read_text(encoding="utf-8"))
            except YAMLError:
                return {}
            return loaded if isinstance(loaded, dict) else {}
    return {}


def _index(objects: list[Any]) -> dict[ObjectKey, dict[str, Any]]:
    indexed: dict[ObjectKey, dict[str, Any]] = {}
    expanded: list[Any] = []
    for obj in objects:  # `kind: List` (as kubectl exports) holds its objects in items
        is_list = isinstance(obj, dict) and str(obj.get("kind", "")).endswith("List") and \
            isinstance(obj.get("items"), list)
        expanded += obj["items"] if is_list else [obj]
    for obj in expanded:
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            continue
        metadata = obj.get("metadata") or {}
        key = (str(obj["kind"]), str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        while key in indexed:  # the same object twice: keep both, the second under a marked name
            key = (key[0], key[1], key[2] + "#dup")
        indexed[key] = obj
    return indexed


class RenderError(Exception):
    """A renderer failed or is missing."""


def kustomize_build(directory: Path) -> str:
    """`kubectl kustomize DIR` (kubectl's built-in kustomize), else a standalone `kustomize build DIR`."""
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(directory)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(directory)]
    else:
        raise RenderError("neither kubectl nor kustomize is installed")
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired as error:
        raise RenderError("timed out after 120 s") from error
    if result.returncode != 0:
        raise RenderError(result.stderr.strip()[:300])
    return result.stdout


def kustomize_inputs(root: Path, directory: Path) -> tuple[str, ...]:
    """The directories a kustomization reads: its own and every path it names, followed transitively."""
    seen: set[Path] = set()
    pending = [directory]
    base = root.resolve()
    while pending and len(seen) < 200:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for value in _strings(_kustomization(root / current)):
            target = (root / current / value).resolve()
            if not target.is_relative_to(base) or not target.exists():
                continue
            relative = target.relative_to(base)
            pending.append(relative if target.is_dir() else relative.parent)
    return tuple(sorted(p.as_posix() for p in seen))


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node.split("=", 1)[-1] if "=" in node and "\n" not in node else node] \
        if isinstance(node, str) and "\n" not in node else []


def _value_sets(root: Path, chart: Path, context: RenderContext) -> list[tuple[str, tuple[str, ...]]]:
    """The values files a chart may be deployed with: Argo CD's when known, else values.yaml alone and
    values.yaml with each environment file beside it (values-preflight.yaml, values.prod.yaml, ...)."""
    known = context.value_files.get(chart.as_posix())
    if known:
        return [(f"helm:{chart.as_posix()}", known)]
    sets: list[tuple[str, tuple[str, ...]]] = [(f"helm:{chart.as_posix()}", ("values.yaml",))]
    for path in sorted((root / chart).glob("values?*.y*ml")):
        if path.name not in {"values.yaml", "values.schema.json"}:
            sets.append((f"helm:{chart.as_posix()}@{path.name}", ("values.yaml", path.name)))
    return sets


def render_all(root: Path, context: RenderContext, previous: dict[str, Root] | None = None,
               changed: set[str] | None = None) -> dict[str, Root]:
    """Every deploy root of the tree at root, rendered; roots of previous that read none of the changed
    files are reused as they are."""
    kustomize_roots, charts, plain = discover(root)
    rendered: dict[str, Root] = {}

    def reuse(key: str, inputs: tuple[str, ...]) -> bool:
        old = (previous or {}).get(key)
        if old is None or changed is None or old.inputs != inputs or old.reads(changed):
            return False
        rendered[key] = old
        return True

    for directory in kustomize_roots:
        inputs = kustomize_inputs(root, directory)
        if reuse(f"kustomize:{directory.as_posix()}", inputs):
            continue
        entry = Root("kustomize", directory.as_posix(), inputs=inputs)
        try:
            entry.objects = _index(_safe_load_all(kustomize_build(root / directory)))
        except (RenderError, YAMLError) as error:
            entry.error = f"kustomize build of {directory.as_posix()} failed: {str(error)[:300]}"
        rendered[f"kustomize:{entry.path}"] = entry
    for directory in charts:
        for key, files in _value_sets(root, directory, context):
            if reuse(key, (directory.as_posix(),)):
                continue
            entry = Root("helm", directory.as_posix(), inputs=(directory.as_posix(),))
            try:
                entry.objects = _index(render_chart(root / directory, context.release, context.namespace, files))
            except (Unrenderable, OSError, RecursionError) as error:
                entry.error = f"chart {directory.as_posix()} cannot be rendered: {error}"
            rendered[key] = entry
    reused = set()
    for relative in plain:
        key = f"plain:{relative.parent.as_posix()}"
        if key in reused or (key not in rendered and reuse(key, (relative.parent.as_posix(),))):
            reused.add(key)
            continue
        entry = rendered.setdefault(key, Root("plain", relative.parent.as_posix(),
                                              inputs=(relative.parent.as_posix(),)))
        try:
            documents = _safe_load_all((root / relative).read_text(encoding="utf-8"))
        except (YAMLError, UnicodeDecodeError):
            continue  # not a manifest (or broken before and after alike): not deployed by this root
        if any(isinstance(d, dict) and "kind" in d and "apiVersion" in d for d in documents):
            entry.objects.update(_index(list(entry.objects.values()) + documents))
    return {key: value for key, value in rendered.items() if value.objects or value.error}


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload object, init containers included."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    if obj.get("kind") != "Pod":
        spec = ((spec.get("template") or {}).get("spec") or {})
    return [c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])] if isinstance(c, dict)]


def pod_labels(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod":
        return dict((obj.get("metadata") or {}).get("labels") or {})
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return dict((((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {})


def flatten(value: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Scalars by path; containers are keyed by name, other list items by index."""
    out: dict[FieldPath, Any] = {}
    if isinstance(value, dict):
        if not value:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, (*prefix, str(key))))
    elif isinstance(value, list):
        if not value:
            out[prefix] = []
        by_name = prefix and prefix[-1] in {"containers", "initContainers"}
        for index, item in enumerate(value):
            name = item.get("name") if by_name and isinstance(item, dict) else None
            out.update(flatten(item, (*prefix, f"[{name}]" if name is not None else f"[{index}]")))
    else:
        out[prefix] = value
    return out

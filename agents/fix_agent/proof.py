"""Prove a patch before proposing it: render what is deployed, before and after the edit, and compare.

A proof holds when (1) in every deploy root that renders the failing workload as it runs, the
failing container now has the intended values, (2) every rendered difference, in every root, is
one of the intended changes on that container (or on the Services that select it, for a port
chain), and (3) the container's port chain is consistent: probes and Service targetPorts name a
containerPort it declares. Anything else is a refusal with the reason.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fix_agent.identity import Target, find_in_root
from fix_agent.line_edits import LineEdit
from fix_agent.rendering import FieldPath, ObjectKey, RenderContext, Root, containers, flatten, pod_labels, render_all


@dataclass
class Expectation:
    """What the fix must do to the failing container, and what else it may touch."""

    target: Target
    required: dict[FieldPath, Any]  # container-relative path -> value after the fix
    optional: dict[FieldPath, Any] = field(default_factory=dict)  # may change, to exactly this value
    service_ports: dict[Any, Any] = field(default_factory=dict)  # Service targetPort old -> new, when selected
    any_container_field: bool = False  # the LLM engine: any change confined to the container...
    field_prefixes: tuple[str, ...] = ()  # ...and, when given, to fields under these (e.g. "resources")
    other_environments: bool = True  # may the same workload change in roots that are not deployed here
    # For an engine whose intent is not known in advance (the LLM): judges each change of the failing container
    # (container-relative path, old, new) and returns a problem, or None when the change makes sense.
    judge: Callable[[FieldPath, Any, Any], str | None] | None = None
    check_chain: bool = True
    # Fields of other objects of the deployed roots (kind, name) -> object path -> value after the fix, e.g. the
    # selector of the Service that fronts the failing workload; they must hold in every deployed root.
    objects: dict[tuple[str, str], dict[FieldPath, Any]] = field(default_factory=dict)
    # Fields of the failing workload's pod spec (relative to it, e.g. ("nodeSelector", "pool")) -> value after
    # the fix (None: the field goes); they must hold in every deployed root.
    pod_required: dict[FieldPath, Any] = field(default_factory=dict)


@dataclass
class Delta:
    root: str
    key: ObjectKey
    path: FieldPath
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.root}: {self.key[0]}/{self.key[2]} {'.'.join(self.path) or '(whole object)'}: " \
               f"{self.old!r} -> {self.new!r}"


def _container_prefix(obj: dict[str, Any], name: str) -> FieldPath | None:
    kind = obj.get("kind")
    base: FieldPath = ("spec",) if kind == "Pod" else \
        ("spec", "jobTemplate", "spec", "template", "spec") if kind == "CronJob" else ("spec", "template", "spec")
    for group in ("containers", "initContainers"):
        spec = obj
        for part in base:
            spec = (spec or {}).get(part) or {}
        if any(isinstance(c, dict) and c.get("name") == name for c in spec.get(group) or []):
            return (*base, group, f"[{name}]")
    return None


def deltas(before: dict[str, Root], after: dict[str, Root]) -> list[Delta]:
    found: list[Delta] = []
    for name in sorted(set(before) | set(after)):
        old_root, new_root = before.get(name), after.get(name)
        if old_root is None or new_root is None or old_root.error != new_root.error:
            found.append(Delta(name, ("root", "", name), (), old_root and old_root.error,
                               new_root and new_root.error))
            continue
        for key in sorted(set(old_root.objects) | set(new_root.objects)):
            old_obj, new_obj = old_root.objects.get(key), new_root.objects.get(key)
            if old_obj is None or new_obj is None:
                found.append(Delta(name, key, (), old_obj is not None, new_obj is not None))
                continue
            old_flat, new_flat = flatten(old_obj), flatten(new_obj)
            found += [Delta(name, key, path, old_flat.get(path), new_flat.get(path))
                      for path in sorted(set(old_flat) | set(new_flat)) if old_flat.get(path) != new_flat.get(path)]
    return found


def deployed_roots(rendering: dict[str, Root], expectation: Expectation) -> list[str]:
    """Roots that render the failing workload as it runs: its container agrees with the live one on every
    field the fix changes."""
    live = flatten(expectation.target.live_container)
    names = []
    for name, root in rendering.items():
        found = find_in_root(root, expectation.target)
        if found is None:
            continue
        prefix = _container_prefix(found[1], expectation.target.container)
        rendered = flatten(found[1])
        if prefix is None:
            continue
        if all(_same(rendered.get((*prefix, *path)), live.get(path)) for path in expectation.required):
            names.append(name)
    return names


_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T|)")
_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9,
            "T": 10**12, "": 1}


def _same(a: Any, b: Any) -> bool:
    """Equal as the API server sees them: 8080 and "8080", 128Mi and 134217728 (memory quantities)."""
    if a == b or (a is not None and b is not None and str(a) == str(b)):
        return True
    first, second = _QUANTITY.fullmatch(str(a)), _QUANTITY.fullmatch(str(b))
    return bool(first and second and isinstance(a, str) and isinstance(b, str) and (first[2] or second[2])
                and float(first[1]) * _FACTORS[first[2]] == float(second[1]) * _FACTORS[second[2]])


def _selects(service: dict[str, Any], labels: dict[str, Any]) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _allowed(delta: Delta, after: dict[str, Root], expectation: Expectation, deployed: list[str]) -> bool:
    root = after.get(delta.root)
    if root is None or delta.key[0] == "root" or not delta.path:
        return False
    if not expectation.other_environments and delta.root not in deployed:
        return False
    obj = root.objects.get(delta.key)
    if obj is None:
        return False
    other = expectation.objects.get((delta.key[0], delta.key[2]))
    if other is not None:
        return delta.path in other and _same(delta.new, other[delta.path])
    found = find_in_root(root, expectation.target, any_namespace=True)
    if found is not None and found[0] == delta.key:
        prefix = _container_prefix(obj, expectation.target.container)
        if prefix is not None and expectation.pod_required and delta.path[:len(prefix) - 2] == prefix[:-2] \
                and delta.path[len(prefix) - 2:] in expectation.pod_required:
            return _same(delta.new, expectation.pod_required[delta.path[len(prefix) - 2:]])
        if prefix is None or delta.path[:len(prefix)] != prefix:
            return False
        relative = delta.path[len(prefix):]
        if expectation.any_container_field:
            return not expectation.field_prefixes or (bool(relative) and relative[0] in expectation.field_prefixes)
        wanted = {**expectation.optional, **expectation.required}
        return relative in wanted and _same(delta.new, wanted[relative])
    if delta.key[0] == "Service" and expectation.service_ports and found is not None and \
            _selects(obj, pod_labels(found[1])) and len(delta.path) == 4 and delta.path[:2] == ("spec", "ports") \
            and delta.path[3] == "targetPort" and _selects_only(obj, root, found[0]):
        return delta.old in expectation.service_ports and _same(delta.new, expectation.service_ports[delta.old])
    return False


def _selects_only(service: dict[str, Any], root: Root, workload: ObjectKey) -> bool:
    """The Service sends traffic to this workload's pods and to no other workload's."""
    return all(key == workload or not containers(obj) or not _selects(service, pod_labels(obj))
               for key, obj in root.objects.items())


def chain_problems(obj: dict[str, Any], root: Root, container: str) -> list[str]:
    """Probes and Service targetPorts that name no port of the container."""
    spec = next((c for c in containers(obj) if c.get("name") == container), {})
    numbers = {p.get("containerPort") for p in spec.get("ports") or [] if isinstance(p, dict)}
    names = {p.get("name") for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("name")}
    problems = []
    for role in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = spec.get(role) or {}
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = (probe.get(handler) or {}).get("port")
            if port is None:
                continue
            if (isinstance(port, int) and numbers and port not in numbers) or (isinstance(port, str)
                                                                               and port not in names):
                problems.append(f"{role} port {port} is not a port of container {container}")
    labels = pod_labels(obj)
    for key, service in root.objects.items():
        if key[0] != "Service" or not _selects(service, labels):
            continue
        for port in (service.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str) and target not in names and len(containers(obj)) == 1:
                problems.append(f"Service {key[2]} targets port name {target!r}, which container {container} "
                                f"does not declare")
            if isinstance(target, int) and numbers and target not in numbers and len(containers(obj)) == 1:
                problems.append(f"Service {key[2]} targets port {target}, which container {container} does not "
                                f"declare")
    return problems


def prove(before: dict[str, Root], after: dict[str, Root], expectation: Expectation) -> list[str]:
    """Problems with the change from before to after; empty when the change is proven."""
    deployed = deployed_roots(before, expectation) if not expectation.any_container_field else \
        [n for n, r in before.items() if find_in_root(r, expectation.target) is not None]
    if not deployed:
        return [f"no deploy root of the repository renders {expectation.target.describe()} as it runs"]
    changes = deltas(before, after)
    if not changes:
        return ["the edit changes nothing in what the repository deploys"]
    problems = [f"unintended change: {d.describe()}" for d in changes
                if not _allowed(d, after, expectation, deployed)]
    for name in deployed:
        root = after[name]
        found = find_in_root(root, expectation.target)
        if found is None:
            problems.append(f"{name} no longer renders {expectation.target.describe()}")
            continue
        prefix = _container_prefix(found[1], expectation.target.container) or ()
        flat = flatten(found[1])
        for path, value in expectation.pod_required.items():
            if prefix and not _same(flat.get((*prefix[:-2], *path)), value):
                problems.append(f"{name}: pod spec {'.'.join(path)} is {flat.get((*prefix[:-2], *path))!r}, "
                                f"not {value!r}")
        for (kind, object_name), fields in expectation.objects.items():
            matching = [obj for key, obj in root.objects.items() if key[0] == kind and key[2] == object_name]
            if not matching:
                problems.append(f"{name} renders no {kind} {object_name}")
            for obj in matching:
                values = flatten(obj)
                problems += [f"{name}: {kind} {object_name} {'.'.join(path)} is {values.get(path)!r}, not {value!r}"
                             for path, value in fields.items() if not _same(values.get(path), value)]
        for path, value in expectation.required.items():
            if not _same(flat.get((*prefix, *path)), value):
                problems.append(f"{name}: {'.'.join(path)} is {flat.get((*prefix, *path))!r}, not {value!r}")
        if expectation.any_container_field and not any(d.root == name and d.key == found[0] for d in changes):
            problems.append(f"{name}: the failing container does not change")
        if expectation.judge is not None:
            for delta in changes:
                if delta.root == name and delta.key == found[0] and delta.path[:len(prefix)] == prefix:
                    verdict = expectation.judge(delta.path[len(prefix):], delta.old, delta.new)
                    if verdict:
                        problems.append(f"{name}: {verdict}")
        if expectation.check_chain:
            before_found = find_in_root(before[name], expectation.target)
            old = set(chain_problems(before_found[1], before[name], expectation.target.container)) \
                if before_found else set()
            problems += [f"{name}: {p}" for p in chain_problems(found[1], root, expectation.target.container)
                         if p not in old or expectation.service_ports]
    return problems


@dataclass
class Search:
    """Try candidate edits one by one; keep those whose every effect is intended; prove their union."""

    root: Path
    context: RenderContext
    expectation: Expectation
    notes: list[str] = field(default_factory=list)
    budget_seconds: float = 300.0  # a repository with many roots and candidates ends in no_fix, not a hang
    clock: Callable[[], float] = time.monotonic

    def run(self, candidates: list[LineEdit]) -> dict[str, str] | None:
        before = render_all(self.root, self.context)
        deployed = deployed_roots(before, self.expectation)
        if not deployed:
            self.notes.append(f"no deploy root renders {self.expectation.target.describe()} with the values "
                              f"that run in the cluster")
            return None
        kept = []
        started = self.clock()
        for candidate in candidates:
            if self.clock() - started > self.budget_seconds:
                self.notes.append(f"the proof's budget of {self.budget_seconds:g}s ran out after trying "
                                  f"{candidates.index(candidate)} of {len(candidates)} candidate lines")
                return None
            edits = self._texts([candidate])
            after = self._render_with(edits, before) if edits is not None else None
            if after is None:
                continue
            changes = deltas(before, after)
            if changes and all(_allowed(d, after, self.expectation, deployed) for d in changes):
                kept.append(candidate)
        if not kept:
            self.notes.append("no edit of the repository changes only the failing container as intended")
            return None
        for group in [[c] for c in kept] + ([kept] if len(kept) > 1 else []):
            edits = self._texts(group)
            after = self._render_with(edits, None) if edits is not None else None  # full render: no reuse
            if edits is None or after is None:
                continue
            problems = prove(before, after, self.expectation)
            if not problems:
                where = ", ".join(f"{c.file}:{c.line + 1}" for c in group)
                self.notes.append(f"proven by rendering every deploy root before and after the edit of {where}")
                return edits
            self.notes.append("; ".join(problems[:3]))
        return None

    def _texts(self, group: list[LineEdit]) -> dict[str, str] | None:
        texts: dict[str, str] = {}
        for candidate in sorted(group, key=lambda c: (c.file, -c.line)):  # bottom up: deletions shift lines
            text = texts.get(candidate.file) or (self.root / candidate.file).read_text(encoding="utf-8")
            new = candidate.apply(text)
            if new is None:
                return None
            texts[candidate.file] = new
        return texts

    def _render_with(self, edits: dict[str, str], before: dict[str, Root] | None) -> dict[str, Root]:
        """The tree rendered with edits applied (then undone); with before, unaffected roots are reused."""
        originals = {name: (self.root / name).read_text(encoding="utf-8") for name in edits}
        try:
            for name, text in edits.items():
                (self.root / name).write_text(text, encoding="utf-8")
            return render_all(self.root, self.context, before, set(edits) if before is not None else None)
        finally:
            for name, text in originals.items():
                (self.root / name).write_text(text, encoding="utf-8")


def prove_edits(root: Path, context: RenderContext, expectation: Expectation, edits: dict[str, str]) -> list[str]:
    """Prove an engine's whole-file edits (the LLM's, or a playbook's on re-check) against the tree at root."""
    before = render_all(root, context)
    originals = {name: (root / name).read_text(encoding="utf-8") if (root / name).exists() else None
                 for name in edits}
    try:
        for name, text in edits.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        after = render_all(root, context)
    finally:
        for name, original in originals.items():
            if original is None:
                (root / name).unlink(missing_ok=True)
            else:
                (root / name).write_text(original, encoding="utf-8")
    return prove(before, after, expectation)

"""A small, strict renderer of Helm charts, for proving values edits when no `helm` binary is present.

It implements the part of Go templates and Sprig that charts written by `helm create` use
(if/else/with/range/define/include, variables, pipelines, toYaml/nindent/default/quote/...)
and raises `Unrenderable` on anything else, so an unknown construct ends in no_fix instead of a
guess. Output is the list of rendered objects, as `helm template` would print them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

_ACTION = re.compile(r"\{\{(-?)(\s*/\*.*?\*/\s*|.*?)(-?)\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||:=|=|,|[^\s()|,]+)')
MAX_STEPS = 200_000


class Unrenderable(Exception):
    """The chart uses something this renderer does not implement faithfully."""


@dataclass
class _Node:
    kind: str  # text | action | if | with | range | define
    text: str = ""
    children: list[_Node] = field(default_factory=list)
    branches: list[tuple[str, list[_Node]]] = field(default_factory=list)  # (condition, body) for if/with
    otherwise: list[_Node] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a template into ('text', s) and ('action', s) with whitespace trimming applied."""
    parts: list[tuple[str, str]] = []
    position = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        chunk = text[position:match.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if match[1]:
            chunk = chunk.rstrip()
        parts.append(("text", chunk))
        body = match[2].strip()
        if not body.startswith("/*"):
            parts.append(("action", body))
        trim_next = bool(match[3])
        position = match.end()
    tail = text[position:]
    parts.append(("text", tail.lstrip() if trim_next else tail))
    return parts


def _parse(tokens: list[tuple[str, str]]) -> tuple[list[_Node], dict[str, list[_Node]]]:
    defines: dict[str, list[_Node]] = {}
    root = _Node("root")
    stack: list[tuple[_Node, list[_Node]]] = [(root, root.children)]
    for kind, text in tokens:
        node, body = stack[-1]
        if kind == "text":
            if text:
                body.append(_Node("text", text))
            continue
        word = text.split(None, 1)[0] if text else ""
        rest = text[len(word):].strip()
        if word in {"if", "with"}:
            block = _Node(word)
            block.branches.append((rest, []))
            body.append(block)
            stack.append((block, block.branches[-1][1]))
        elif word in {"range", "define"}:
            block = _Node(word, rest)
            if word == "define":
                defines[_string(rest)] = block.children
            else:
                body.append(block)
            stack.append((block, block.children))
        elif word == "else":
            if node.kind not in {"if", "with", "range"}:
                raise Unrenderable("else outside a block")
            if rest.startswith("if ") and node.kind == "if":
                node.branches.append((rest[3:].strip(), []))
                stack[-1] = (node, node.branches[-1][1])
            elif rest:
                raise Unrenderable(f"unsupported else form: {text[:60]}")
            else:
                stack[-1] = (node, node.otherwise)
        elif word == "end":
            if len(stack) == 1:
                raise Unrenderable("end without a block")
            stack.pop()
        elif word in {"block", "template", "break", "continue"}:
            raise Unrenderable(f"unsupported action {word!r}")
        else:
            body.append(_Node("action", text))
    if len(stack) != 1:
        raise Unrenderable("a block is not closed")
    return root.children, defines


def _string(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in "\"`" and text[-1] == text[0]:
        return text[1:-1].encode().decode("unicode_escape") if text[0] == '"' else text[1:-1]
    raise Unrenderable(f"expected a string, got {text[:40]}")


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {}) if not isinstance(value, bool) else value


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    if value == {} or value == []:
        return "{}" if value == {} else "[]"
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(value, buffer)
    text = buffer.getvalue()
    return text[:-5] if text.endswith("\n...\n") else text.rstrip("\n")


def _indent(spaces: Any, text: Any) -> str:
    pad = " " * int(spaces)
    return "\n".join(pad + line for line in str(text).split("\n"))


def _printf(fmt: Any, *args: Any) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        if match[0] == "%%":
            return "%"
        value = next(values)
        return str(value) if match[1] in "sv" else str(int(value)) if match[1] == "d" else repr(value)

    return re.sub(r"%%|%([svdq])", one, str(fmt))


def _default(fallback: Any, value: Any = None) -> Any:
    return value if _truthy(value) else fallback


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toYaml": to_yaml, "nindent": lambda n, t: "\n" + _indent(n, t), "indent": _indent, "default": _default,
    "quote": lambda *v: " ".join('"' + str("" if x is None else x).replace('"', '\\"') + '"' for x in v),
    "squote": lambda *v: " ".join("'" + str("" if x is None else x) + "'" for x in v),
    "trunc": lambda n, s: str(s)[:int(n)] if int(n) >= 0 else str(s)[int(n):],
    "trimSuffix": lambda suffix, s: str(s)[:-len(suffix)] if suffix and str(s).endswith(suffix) else str(s),
    "trimPrefix": lambda prefix, s: str(s)[len(prefix):] if prefix and str(s).startswith(prefix) else str(s),
    "trim": lambda s: str(s).strip(), "lower": lambda s: str(s).lower(), "upper": lambda s: str(s).upper(),
    "replace": lambda old, new, s: str(s).replace(str(old), str(new)), "printf": _printf,
    "contains": lambda sub, s: str(sub) in str(s), "hasPrefix": lambda p, s: str(s).startswith(str(p)),
    "not": lambda v: not _truthy(v), "eq": lambda a, *b: any(a == x for x in b), "ne": lambda a, b: a != b,
    "and": lambda *v: next((x for x in v if not _truthy(x)), v[-1]),
    "or": lambda *v: next((x for x in v if _truthy(x)), v[-1]),
    "toString": lambda v: str(v), "int": lambda v: int(v), "empty": lambda v: not _truthy(v),
    "required": lambda message, v: v if _truthy(v) else (_ for _ in ()).throw(Unrenderable(str(message))),
    "semverCompare": lambda _c, _v: True, "list": lambda *v: list(v),
    "print": lambda *v: "".join(_print(x) for x in v), "toJson": lambda v: json.dumps(v, separators=(",", ":")),
    "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
    "hasKey": lambda d, k: isinstance(d, dict) and k in d, "title": lambda s: str(s).title(),
    "dict": lambda *v: {str(v[i]): v[i + 1] for i in range(0, len(v) - 1, 2)},
    "get": lambda d, k: d.get(k, "") if isinstance(d, dict) else "",
    "kindIs": lambda kind, v: {"map": dict, "slice": list, "string": str, "bool": bool, "int": int}.get(
        str(kind), type(None)) is type(v),
}


class _Renderer:
    def __init__(self, defines: dict[str, list[_Node]], root: dict[str, Any]) -> None:
        self.defines = defines
        self.root = root
        self.steps = 0

    def run(self, nodes: list[_Node], dot: Any, variables: dict[str, Any]) -> str:
        out: list[str] = []
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise Unrenderable("the template does too much work")
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self.action(node.text, dot, variables)
                if value is not None:
                    out.append(_print(value))
            elif node.kind in {"if", "with"}:
                out.append(self.conditional(node, dot, variables))
            elif node.kind == "range":
                out.append(self.range(node, dot, variables))
        return "".join(out)

    def conditional(self, node: _Node, dot: Any, variables: dict[str, Any]) -> str:
        for condition, body in node.branches:
            scope = dict(variables)
            value = self.action(condition, dot, scope)
            if _truthy(value):
                return self.run(body, value if node.kind == "with" else dot, scope)
        return self.run(node.otherwise, dot, dict(variables))

    def range(self, node: _Node, dot: Any, variables: dict[str, Any]) -> str:
        text = node.text
        names: list[str] = []
        if ":=" in text:
            left, text = text.split(":=", 1)
            names = [n.strip() for n in left.split(",")]
        items = self.pipeline(text, dot, variables)
        pairs = list(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        if isinstance(items, dict):
            pairs.sort(key=lambda pair: str(pair[0]))
        out = []
        for key, value in pairs:
            scope = dict(variables)
            if len(names) == 1:
                scope[names[0]] = value
            elif len(names) == 2:
                scope[names[0]], scope[names[1]] = key, value
            out.append(self.run(node.children, value, scope))
        if not pairs:
            out.append(self.run(node.otherwise, dot, dict(variables)))
        return "".join(out)

    def action(self, text: str, dot: Any, variables: dict[str, Any]) -> Any:
        match = re.match(r"^(\$\w*)\s*(:?=)\s*(.*)$", text, re.S)
        if match:
            variables[match[1]] = self.pipeline(match[3], dot, variables)
            return None
        return self.pipeline(text, dot, variables)

    def pipeline(self, text: str, dot: Any, variables: dict[str, Any]) -> Any:
        tokens = [t for t in _TOKEN.findall(text) if t]
        value, rest = self._pipe(tokens, dot, variables)
        if rest:
            raise Unrenderable(f"cannot parse {text[:60]!r}")
        return value

    def _pipe(self, tokens: list[str], dot: Any, variables: dict[str, Any]) -> tuple[Any, list[str]]:
        value: Any = None
        first = True
        while True:
            command: list[Any] = []
            while tokens and tokens[0] not in {"|", ")"}:
                term = tokens.pop(0)
                if term == "(":
                    inner, tokens = self._pipe(tokens, dot, variables)
                    if not tokens or tokens.pop(0) != ")":
                        raise Unrenderable("unbalanced parentheses")
                    command.append(("value", inner))
                else:
                    command.append(term)
            value = self._command(command, None if first else value, not first, dot, variables)
            first = False
            if tokens and tokens[0] == "|":
                tokens.pop(0)
                continue
            return value, tokens

    def _command(self, command: list[Any], piped: Any, has_piped: bool, dot: Any, variables: dict[str, Any]) -> Any:
        if not command:
            raise Unrenderable("empty command")
        head = command[0]
        if isinstance(head, str) and re.fullmatch(r"[A-Za-z_]\w*", head) and head not in {"true", "false", "nil"}:
            args = [self._term(t, dot, variables) for t in command[1:]]
            if has_piped:
                args.append(piped)
            if head == "include":
                return self.include(args)
            if head == "tpl":
                raise Unrenderable("tpl is not supported")
            function = FUNCTIONS.get(head)
            if function is None:
                raise Unrenderable(f"unsupported function {head!r}")
            try:
                return function(*args)
            except Unrenderable:
                raise
            except (TypeError, ValueError, StopIteration, IndexError) as error:
                raise Unrenderable(f"{head}: {error}") from error
        if len(command) != 1 or has_piped:
            raise Unrenderable(f"cannot evaluate {command!r:.60}")
        return self._term(head, dot, variables)

    def _term(self, term: Any, dot: Any, variables: dict[str, Any]) -> Any:
        if isinstance(term, tuple):
            return term[1]
        if term[0] in "\"`":
            return _string(term)
        if re.fullmatch(r"-?\d+", term):
            return int(term)
        if term in {"true", "false"}:
            return term == "true"
        if term == "nil":
            return None
        if term == ".":
            return dot
        if term.startswith("$"):
            name, _, path = term.partition(".")
            if name == "$":
                base: Any = self.root
            elif name in variables:
                base = variables[name]
            else:
                raise Unrenderable(f"undefined variable {name}")
            return _field(base, path)
        if term.startswith("."):
            return _field(dot, term[1:])
        raise Unrenderable(f"unsupported term {term[:40]!r}")

    def include(self, args: list[Any]) -> str:
        if len(args) != 2 or args[0] not in self.defines:
            raise Unrenderable(f"include of an unknown template {args[:1]!r}")
        return self.run(self.defines[str(args[0])], args[1], {})


def _field(base: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(base, dict):
            base = base.get(part)
        elif base is None:
            return None
        else:
            raise Unrenderable(f"field {part} of a non-map")
    return base


def _print(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise Unrenderable("printing a map or list without toYaml")
    return str(value)


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
    defines: dict[str, list[_Node]] = {}
    bodies: list[tuple[Path, list[_Node]]] = []
    for path in files:
        if path.suffix not in {".yaml", ".yml", ".tpl"}:
            continue
        nodes, found = _parse(_tokens(path.read_text(encoding="utf-8")))
        defines.update(found)
        defines[f"{meta.get('name')}/templates/{path.relative_to(templates).as_posix()}"] = nodes
        if not path.name.startswith("_") and path.suffix != ".tpl":
            bodies.append((path, nodes))
    objects: list[dict[str, Any]] = []
    for path, nodes in bodies:
        renderer = _Renderer(defines, root)
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

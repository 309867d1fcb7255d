"""Go templates as Helm charts use them: parse, then render with a given function library, strictly.

It implements if/else/with/range/define/include, variables and pipelines, and raises
`Unrenderable` on anything else (block, template, break, continue, an unknown function), so an
unknown construct ends in no_fix instead of a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_ACTION = re.compile(r"\{\{(-?)(\s*/\*.*?\*/\s*|.*?)(-?)\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||:=|=|,|[^\s()|,]+)')
MAX_STEPS = 200_000


class Unrenderable(Exception):
    """The chart uses something this renderer does not implement faithfully."""


@dataclass
class Node:
    kind: str  # text | action | if | with | range | define
    text: str = ""
    children: list[Node] = field(default_factory=list)
    branches: list[tuple[str, list[Node]]] = field(default_factory=list)  # (condition, body) for if/with
    otherwise: list[Node] = field(default_factory=list)


def tokens(text: str) -> list[tuple[str, str]]:
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


def parse(tokens: list[tuple[str, str]]) -> tuple[list[Node], dict[str, list[Node]]]:
    defines: dict[str, list[Node]] = {}
    root = Node("root")
    stack: list[tuple[Node, list[Node]]] = [(root, root.children)]
    for kind, text in tokens:
        node, body = stack[-1]
        if kind == "text":
            if text:
                body.append(Node("text", text))
            continue
        word = text.split(None, 1)[0] if text else ""
        rest = text[len(word):].strip()
        if word in {"if", "with"}:
            block = Node(word)
            block.branches.append((rest, []))
            body.append(block)
            stack.append((block, block.branches[-1][1]))
        elif word in {"range", "define"}:
            block = Node(word, rest)
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
            body.append(Node("action", text))
    if len(stack) != 1:
        raise Unrenderable("a block is not closed")
    return root.children, defines


def _string(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in "\"`" and text[-1] == text[0]:
        return text[1:-1].encode().decode("unicode_escape") if text[0] == '"' else text[1:-1]
    raise Unrenderable(f"expected a string, got {text[:40]}")


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {}) if not isinstance(value, bool) else value


class Renderer:
    """Runs parsed templates against the root object (.Values, .Release, ...) with a function library."""

    def __init__(self, defines: dict[str, list[Node]], root: dict[str, Any],
                 functions: Mapping[str, Callable[..., Any]]) -> None:
        self.defines = defines
        self.root = root
        self.functions = functions
        self.steps = 0

    def run(self, nodes: list[Node], dot: Any, variables: dict[str, Any]) -> str:
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
                    out.append(printed(value))
            elif node.kind in {"if", "with"}:
                out.append(self.conditional(node, dot, variables))
            elif node.kind == "range":
                out.append(self.range(node, dot, variables))
        return "".join(out)

    def conditional(self, node: Node, dot: Any, variables: dict[str, Any]) -> str:
        for condition, body in node.branches:
            scope = dict(variables)
            value = self.action(condition, dot, scope)
            if truthy(value):
                return self.run(body, value if node.kind == "with" else dot, scope)
        return self.run(node.otherwise, dot, dict(variables))

    def range(self, node: Node, dot: Any, variables: dict[str, Any]) -> str:
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
            function = self.functions.get(head)
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


def printed(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise Unrenderable("printing a map or list without toYaml")
    return str(value)

"""Edits of the repository's YAML, one line at a time, and where they could go (the candidates a proof tries).

An edit keeps comments, quoting and everything else of the file: it sets the scalar of one
`key: value` line (or of one pair of a flow mapping), renames a key, deletes a key with its
block, or inserts lines after one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

MAX_CANDIDATES = 60
_LINE = re.compile(r"""^(?P<lead>\s*(?:-\s+)?(?P<key>[\w.$/-]+)\s*:\s+)(?P<q>["']?)(?P<value>[^"'#\s][^"'#]*?|)(?P=q)"""
                   r"""(?P<tail>\s*(?:#.*)?)$""")
# `key: value` inside a flow mapping, e.g. `- {op: replace, path: /spec/x, value: 8080}`
_FLOW = re.compile(r"""(?P<lead>[{,]\s*(?P<key>[\w.$/-]+)\s*:\s*)(?P<q>["']?)"""
                   r"""(?P<value>[^"',{}\[\]#\s][^"',{}\[\]#]*?)(?P=q)(?=\s*[,}])""")


@dataclass(frozen=True)
class LineEdit:
    """Set the scalar on one line of one file: keeps comments, quoting and everything else."""

    file: str
    line: int  # 0-based
    new_value: Any
    flow: int = -1  # which `key: value` of a flow mapping on the line; -1: the line is `key: value`
    rename_key: bool = False  # set the key of a `key: value` line instead (env given as a map in Helm values)
    delete: bool = False  # remove the key and its whole value (a block under it), e.g. a command override
    insert: bool = False  # insert new_value (lines of text) after the line, e.g. a rule appended to a Role

    def apply(self, text: str) -> str | None:
        lines = text.split("\n")
        if self.line >= len(lines):
            return None
        line = lines[self.line]
        if self.delete:
            return _delete_block(lines, self.line)
        if self.insert:
            return "\n".join(lines[:self.line + 1] + str(self.new_value).split("\n") + lines[self.line + 1:])
        if self.flow >= 0:
            found = list(_FLOW.finditer(line))
            if self.flow >= len(found):
                return None
            match = found[self.flow]
            quote = match["q"] or ('"' if _needs_quotes(self.new_value, flow=True) else "")
            lines[self.line] = f"{line[:match.start()]}{match['lead']}{quote}{self.new_value}{quote}" \
                               f"{line[match.end():]}"
            return "\n".join(lines)
        whole = _LINE.match(line)
        if whole is None or whole["value"].startswith(("{", "[")):
            return None
        if self.rename_key:
            if not isinstance(self.new_value, str) or not re.fullmatch(r"[\w.-]+", self.new_value):
                return None
            start, end = whole.span("key")
            lines[self.line] = line[:start] + self.new_value + line[end:]
            return "\n".join(lines)
        quote = whole["q"] or ('"' if _needs_quotes(self.new_value) else "")
        lines[self.line] = f"{whole['lead']}{quote}{self.new_value}{quote}{whole['tail']}"
        return "\n".join(lines)


BLOCK_KEY = re.compile(r"^(?P<lead>\s*(?:-\s+)?)(?P<key>[\w.$/-]+)\s*:(?:\s.*)?$")


def _delete_block(lines: list[str], number: int) -> str | None:
    """The text without the `key:` line at number and the lines of its value (deeper, or `- ` items at its
    column); None when the line starts a list item (deleting it would change the item's other keys)."""
    match = BLOCK_KEY.match(lines[number])
    if match is None or "-" in match["lead"]:
        return None
    column = len(match["lead"])
    end = number + 1
    while end < len(lines):
        line = lines[end]
        indent = len(line) - len(line.lstrip())
        if line.strip() and not (indent > column or (indent == column and line.lstrip().startswith("- "))):
            break
        end += 1
    while end > number + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate what follows
    return "\n".join(lines[:number] + lines[end:])


def block_end(lines: list[str], number: int) -> int:
    """The index of the last line of the value of the `key:` line at number (itself when it has none)."""
    match = BLOCK_KEY.match(lines[number])
    column = len(match["lead"]) if match else 0
    last = number
    for index in range(number + 1, len(lines)):
        line = lines[index]
        indent = len(line) - len(line.lstrip())
        if line.strip() and not (indent > column or (indent == column and line.lstrip().startswith("- "))):
            break
        if line.strip():
            last = index
    return last


def block_candidates(root: Path, keys: frozenset[str]) -> list[LineEdit]:
    """Deletions of `key:` lines (with their values) for the given keys, in the repository's YAML."""
    found: list[LineEdit] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix not in {".yaml", ".yml"} or not path.is_file() or ".git" in relative.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n")):
            match = BLOCK_KEY.match(line)
            if match is not None and "{{" not in line and match["key"] in keys and "-" not in match["lead"]:
                found.append(LineEdit(relative.as_posix(), number, None, delete=True))
    return found[:MAX_CANDIDATES]


def _needs_quotes(value: Any, flow: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    if flow and any(c in value for c in ",{}[]"):
        return True
    try:
        parsed = YAML(typ="safe", pure=True).load(f"k: {value}")
    except YAMLError:
        return True
    return not isinstance(parsed, dict) or parsed.get("k") != value


def _scalar(text: str) -> Any:
    try:
        parsed = YAML(typ="safe", pure=True).load(f"k: {text}")
    except YAMLError:
        return text
    return parsed.get("k") if isinstance(parsed, dict) else text


def line_candidates(root: Path, choose: Callable[[str, Any], Any],
                    rename: Callable[[str], str | None] | None = None,
                    prefer: frozenset[str] = frozenset()) -> list[LineEdit]:
    """Lines `key: value` in the repository's YAML (manifests, values, patches, templates) where
    choose(key, value) gives a new value (None: not a candidate); with rename, also lines whose key
    rename(key) gives a new key for. Lines whose key is in prefer come first (the cap keeps them)."""
    found: list[tuple[bool, LineEdit]] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix not in {".yaml", ".yml"} or not path.is_file() or ".git" in relative.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.split("\n")):
            if "{{" in line:
                continue
            match = _LINE.match(line)
            if match is not None and match["value"].startswith(("{", "[")):
                match = None  # a flow collection: its own `key: value` pairs are the candidates
            if match is not None and rename is not None and (new_key := rename(match["key"])) is not None:
                found.append((False, LineEdit(relative.as_posix(), number, new_key, rename_key=True)))
            if match is not None:
                value = match["value"] if match["q"] else _scalar(match["value"])
                new = choose(match["key"], value)
                if new is not None and new != value:
                    found.append((match["key"] not in prefer, LineEdit(relative.as_posix(), number, new)))
                continue
            for index, flow in enumerate(_FLOW.finditer(line)):
                value = flow["value"] if flow["q"] else _scalar(flow["value"])
                new = choose(flow["key"], value)
                if new is not None and new != value:
                    found.append((flow["key"] not in prefer, LineEdit(relative.as_posix(), number, new, index)))
    found.sort(key=lambda pair: pair[0])  # stable: file order within each group
    return [edit for _, edit in found[:MAX_CANDIDATES]]

"""Edit YAML where a setting lives, keeping comments and order (ruamel.yaml round trip)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

KeyPath = tuple[str | int, ...]


def round_trip() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


@dataclass
class YamlFile:
    relative: str
    documents: list[Any]
    yaml: YAML

    def dump(self) -> str:
        buffer = io.StringIO()
        if len(self.documents) == 1:
            self.yaml.dump(self.documents[0], buffer)
        else:
            self.yaml.dump_all(self.documents, buffer)
        return buffer.getvalue()


def load(root: Path, relative: str) -> YamlFile | None:
    text = (root / relative).read_text(encoding="utf-8")
    if "{{" in text:  # a Helm template, not YAML
        return None
    yaml = round_trip()
    _guess_indent(yaml, text)
    try:
        documents = [doc for doc in yaml.load_all(text) if doc is not None]
    except YAMLError:
        return None
    return YamlFile(relative, documents, yaml)


def _guess_indent(yaml: YAML, text: str) -> None:
    """Keep the file's sequence style: '- x' under a key, indented or not."""
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        stripped = line.rstrip()
        if stripped.endswith(":") and not stripped.lstrip().startswith("#"):
            following = lines[index + 1]
            if following.lstrip().startswith("- "):
                offset = len(following) - len(following.lstrip()) - (len(line) - len(line.lstrip()))
                yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
                return
    yaml.indent(mapping=2, sequence=4, offset=2)


def yaml_files(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and path.suffix in {".yaml", ".yml"} and ".git" not in relative.parts:
            yield relative.as_posix()


def walk(node: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any, Any]]:
    """(key path, parent container, value) for every scalar in a document."""
    if isinstance(node, CommentedMap | dict):
        for key, value in node.items():
            if isinstance(value, CommentedMap | CommentedSeq | dict | list):
                yield from walk(value, (*path, str(key)))
            else:
                yield (*path, str(key)), node, value
    elif isinstance(node, CommentedSeq | list):
        for index, value in enumerate(node):
            if isinstance(value, CommentedMap | CommentedSeq | dict | list):
                yield from walk(value, (*path, index))
            else:
                yield (*path, index), node, value


def find(root: Path, predicate: Callable[[KeyPath, Any], bool]) -> list[tuple[YamlFile, KeyPath, Any, Any]]:
    """Every scalar in the repository's YAML files that the predicate selects."""
    found = []
    for relative in yaml_files(root):
        loaded = load(root, relative)
        if loaded is None:
            continue
        for document in loaded.documents:
            for key_path, parent, value in walk(document):
                if predicate(key_path, value):
                    found.append((loaded, key_path, parent, value))
    return found


def set_scalar(parent: Any, key_path: KeyPath, value: Any) -> None:
    parent[key_path[-1]] = value

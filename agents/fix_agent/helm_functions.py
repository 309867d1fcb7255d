"""The template functions of Helm (Go's builtins and the part of Sprig that `helm create` charts use)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML

from fix_agent.go_template import Unrenderable, printed, truthy


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    if value == {} or value == []:
        return "{}" if value == {} else "[]"
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
    return value if truthy(value) else fallback


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
    "not": lambda v: not truthy(v), "eq": lambda a, *b: any(a == x for x in b), "ne": lambda a, b: a != b,
    "and": lambda *v: next((x for x in v if not truthy(x)), v[-1]),
    "or": lambda *v: next((x for x in v if truthy(x)), v[-1]),
    "toString": lambda v: str(v), "int": lambda v: int(v), "empty": lambda v: not truthy(v),
    "required": lambda message, v: v if truthy(v) else (_ for _ in ()).throw(Unrenderable(str(message))),
    "semverCompare": lambda _c, _v: True, "list": lambda *v: list(v),
    "print": lambda *v: "".join(printed(x) for x in v), "toJson": lambda v: json.dumps(v, separators=(",", ":")),
    "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
    "hasKey": lambda d, k: isinstance(d, dict) and k in d, "title": lambda s: str(s).title(),
    "dict": lambda *v: {str(v[i]): v[i + 1] for i in range(0, len(v) - 1, 2)},
    "get": lambda d, k: d.get(k, "") if isinstance(d, dict) else "",
    "kindIs": lambda kind, v: {"map": dict, "slice": list, "string": str, "bool": bool, "int": int}.get(
        str(kind), type(None)) is type(v),
}

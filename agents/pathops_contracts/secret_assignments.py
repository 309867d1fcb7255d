"""Secrets by name and structure: values assigned to secret names in running text.

Every syntax that reaches the evidence: `k=v`, `k: v`, JSON and JSON inside JSON strings, headers,
`--flag value`; names are secret by their words (see `secret_names`). Pure; no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator

from pathops_contracts.redaction_screen import Key, lower_ascii
from pathops_contracts.redaction_tokens import TOKEN
from pathops_contracts.secret_names import is_secret_name as _is_secret_name_uncached


@functools.lru_cache(maxsize=4096)
def _is_short_secret_name(name: str) -> bool:
    return _is_secret_name_uncached(name)


def is_secret_name(name: str) -> bool:
    """secret_names.is_secret_name, remembered for short names: objects repeat the same keys (300
    replicas of one pod template), and splitting a name into words is a regex each time."""
    return _is_short_secret_name(name) if len(name) <= 256 else _is_secret_name_uncached(name)


# Where a name is spelled in running text: every keyword of `secret_names` as a substring.
NAME_ANCHORS = ("pass", "pw", "secret", "token", "credential", "creds", "auth", "key", "cookie", "session", "sig",
                "contrase")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.-]")
# After a name: optional closing quote(s) (plain or JSON-escaped), then `=`/`:`/`:=` and a value,
# plain, quoted, JSON-escaped-quoted, or after an auth scheme word.
# The quoted values are read possessively (`*+`), one character or escape at a time, each taken only
# when the closing quote does not start there: what a lazy `*?` would match, without the backtracking
# state that made an escaped quote never closed cost more than linear time in its length.
_ASSIGNED = re.compile(
    r"""(?:\\*["'])?[ \t]*(?::=|=>|[:=])[ \t]*(?:"""
    r"""(?P<esc>\\+)"(?P<v_esc>(?:(?!(?P=esc)")(?:[^"\\\n]|\\(?!(?P=esc)")[^\n]))*+)(?P=esc)"|"""
    r""""(?P<v_dq>(?:[^"\\\n]|\\.)*+)"|"""
    r"""'(?P<v_sq>[^'\n]*)'|"""
    r"""(?:(?i:bearer|basic|token|digest|negotiate)[ \t]+)?(?P<v_plain>[^\s"'`,;&\\{}]+))""")
# `--db-password VALUE` in running text (argv items in objects are handled structurally).
_FLAG_VALUE = re.compile(r"[ \t]+(?P<v_plain>[^\s\"'`,;&\\-][^\s\"'`,;&\\]*)")
BENIGN_VALUES = frozenset({"", "true", "false", "yes", "no", "null", "none", "nil", "on", "off", "[]", "{}"})


def is_benign_value(value: str) -> bool:
    """Values that are never secrets: booleans, nulls, references to other variables, tokens."""
    stripped = value.strip()
    bare = stripped.rstrip(")]>.")
    return (stripped.lower() in BENIGN_VALUES or bool(TOKEN.fullmatch(bare)) or not stripped.strip("[]()<>")
            or bool(re.fullmatch(r"\$\(?\{?[A-Za-z_][A-Za-z0-9_]*\}?\)?|\*+", stripped)))


def _hints(lowered: str, present: Collection[Key] | None = None) -> list[tuple[int, int]]:
    """Where a name anchor occurs, found by plain substring search (far faster than a regex).

    `present`: the anchors known to occur (`Screen.present` of a set holding every name anchor).
    """
    found = []
    for anchor in NAME_ANCHORS:
        if present is not None and (anchor, True) not in present:
            continue
        position = lowered.find(anchor)
        while position != -1:
            found.append((position, position + len(anchor)))
            position = lowered.find(anchor, position + 1)
    return sorted(found)


def assignment_spans(text: str, lowered: str | None = None, present: Collection[Key] | None = None
                     ) -> Iterator[tuple[int, int]]:
    """Spans of values assigned to secret names, in any of the syntaxes above."""
    last_name_end = -1  # names and values already read: hints inside them are not names
    tokens = [match.span() for match in TOKEN.finditer(text)] if "[REDACTED:" in text else []
    for start, end in _hints(lower_ascii(text) if lowered is None else lowered, present):
        if start < last_name_end or any(t_start <= start < t_end for t_start, t_end in tokens):
            continue
        while start > 0 and _NAME_CHAR.match(text, start - 1):
            start -= 1
        while end < len(text) and _NAME_CHAR.match(text, end):
            end += 1
        last_name_end = end
        name = text[start:end].rstrip(".-")
        end = start + len(name)
        if not is_secret_name(name):
            continue
        match = _ASSIGNED.match(text, end)
        if match is None and name.startswith("-"):
            match = _FLAG_VALUE.match(text, end)
        if match is None:
            continue
        for group in ("v_esc", "v_dq", "v_sq", "v_plain"):
            value = match.groupdict().get(group)
            if value is not None:
                last_name_end = match.end(group)
                if not is_benign_value(value) and not _line_number_in_source(name, value):
                    yield match.span(group)
                break


# A source file's name (`TokenService.java`, `auth/token.go`, `SignatureVerifier.kt`): in a stack trace or a
# log's caller field, the number after its colon is a line number, evidence a fix needs. Only a number: any
# other value after such a name is judged as after any name (`password.go: hunter2` is redacted).
_SOURCE_FILE = re.compile(r"\.(?:java|kt|kts|scala|groovy|clj|go|py|rb|js|mjs|cjs|jsx|ts|tsx|cs|fs|vb|php|rs|swift|"
                          r"c|cc|cpp|cxx|h|hpp|m|mm|ex|exs|erl|dart|lua|pl|pm)$")


def _line_number_in_source(name: str, value: str) -> bool:
    """Whether value is a line number after a source file's name (the final scan lets short numbers through)."""
    number = value.strip("()[]<>.:/@")  # `Verifier.java:42)`: the frame's closing parenthesis, as the scan strips it
    return number.isascii() and number.isdigit() and len(number) <= 9 and _SOURCE_FILE.search(name) is not None


def _is_secret_flag(item: str) -> bool:
    return item.startswith("-") and "=" not in item and " " not in item and is_secret_name(item.lstrip("-"))

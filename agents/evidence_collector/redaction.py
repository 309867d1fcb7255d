"""Redaction of untrusted text before anything is written.

Each secret is replaced by `[REDACTED:<kind>:<hash6>]`, the hash being an HMAC of the
value under a key made for this snapshot: the same secret gets the same token in every
file of the snapshot (so it correlates) and the token reveals nothing. Counts per kind
and file are kept for the redaction report; values never are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathops_contracts.errors import InvalidInput

# Names of variables and keys whose values are secrets.
SECRET_KEYWORDS = "PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|AUTH"  # noqa: S105
SECRET_NAME = rf"(?:[A-Za-z0-9_.-]*(?:{SECRET_KEYWORDS})[A-Za-z0-9_.-]*)"
TOKEN = re.compile(r"\[REDACTED:[a-z0-9-]+:[0-9a-f]{6}\]")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SECRET_NAME_RE = re.compile(rf"^{SECRET_NAME}$", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group holds the secret value
    # Lower-case literals of which at least one occurs in any match: a cheap substring test
    # decides whether the regex needs to run at all. Empty: always run (extra patterns).
    anchors: tuple[str, ...] = ()

    def may_match(self, lowered: str) -> bool:
        return not self.anchors or any(anchor in lowered for anchor in self.anchors)


def _rule(kind: str, regex: str, group: int = 0, anchors: tuple[str, ...] = ()) -> Rule:
    return Rule(kind, re.compile(regex), group, anchors)


KEYWORD_ANCHORS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "private_key",
                   "privatekey", "access_key", "accesskey", "credential", "auth")


# Order matters: specific shapes first, generic key=value pairs last.
BUILTIN_RULES: tuple[Rule, ...] = (
    _rule("pem-private-key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
          anchors=("private key-----",)),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", anchors=("eyj",)),
    _rule("aws-access-key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", anchors=("akia", "asia")),
    _rule("gitlab-token", r"\bgl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas)-[A-Za-z0-9_-]{20,}",
          anchors=("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "gloas-")),
    _rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
          anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _rule("url-credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s/@]+)@", 1, anchors=("://",)),
    _rule("authorization-header",
          r"(?i)\b(?:authorization|proxy-authorization)\s*[:=]\s*\"?(?:bearer|basic|token)\s+"
          r"([A-Za-z0-9._~+/=-]{6,})", 1, anchors=("authorization",)),
    _rule("bearer-token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})", 1, anchors=("bearer",)),
    _rule("aws-secret-key", r"(?i)aws_?secret_?access_?key\W{0,5}([A-Za-z0-9/+=]{40})", 1, anchors=("secret",)),
    # Anchored on the keyword (not on the start of the name) so the scan stays linear.
    _rule("secret-assignment",
          rf"(?i)(?:{SECRET_KEYWORDS})[A-Za-z0-9_.-]*[\"']?\s*(?:=|:)\s*[\"']?([^\s\"',;&]{{4,}})", 1,
          anchors=KEYWORD_ANCHORS),
)

# Shapes that must never leave the collector: the final scan fails the run on any of them.
LEAK_SHAPES = tuple(rule for rule in BUILTIN_RULES if rule.kind in {
    "pem-private-key", "jwt", "aws-access-key", "gitlab-token", "github-token", "url-credentials"})


def load_extra_rules(path: Path) -> tuple[Rule, ...]:
    """Extra patterns, one `kind: regex` per line (# comments); the whole match is redacted."""
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, regex = line.partition(":")
        if not sep or not re.fullmatch(r"[a-z0-9-]+", kind.strip()):
            raise InvalidInput(f"{path}:{number}: expected 'kind: regex'")
        try:
            rules.append(Rule(kind.strip(), re.compile(regex.strip())))
        except re.error as error:
            raise InvalidInput(f"{path}:{number}: bad regex: {error}") from error
    return tuple(rules)


@dataclass
class Redactor:
    extra_rules: tuple[Rule, ...] = ()
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (file, kind) -> n

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:6]
        return f"[REDACTED:{kind}:{digest}]"

    def redact(self, text: str, where: str) -> str:
        """One pass: every rule's matches on the original text, non-overlapping by rule priority."""
        lowered = text.lower()
        rules = [rule for rule in (*BUILTIN_RULES, *self.extra_rules) if rule.may_match(lowered)]
        if not rules:
            return text
        # Tokens already in the text (a second pass over redacted output) are occupied: never redacted again.
        occupied = [match.span() for match in TOKEN.finditer(text)]
        chosen: list[tuple[int, int, int, int, str]] = []  # whole start/end, value start/end, kind
        for rule in rules:
            for match in rule.pattern.finditer(text):
                whole_start, whole_end = match.span()
                if any(whole_start < end and start < whole_end for start, end, _, _, _ in chosen):
                    continue
                value_start, value_end = match.span(rule.group)
                if any(value_start < end and start < value_end for start, end in occupied):
                    continue
                if value_end > value_start:
                    chosen.append((whole_start, whole_end, value_start, value_end, rule.kind))
        if not chosen:
            return text
        pieces = []
        cursor = 0
        for _, _, value_start, value_end, kind in sorted(chosen, key=lambda span: span[2]):
            pieces.append(text[cursor:value_start])
            pieces.append(self.token(kind, text[value_start:value_end]))
            self.counts[(where, kind)] += 1
            cursor = value_end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def redact_env_value(self, name: str, value: str, where: str) -> str:
        """A literal env value in a pod spec whose name looks secret is replaced whole."""
        if SECRET_NAME_RE.match(name) and value:
            self.counts[(where, "secret-env-value")] += 1
            return self.token("secret-env-value", value)
        return self.redact(value, where)

    def scrub_object(self, obj: Any, where: str) -> Any:
        """Redact literal env values with secret-looking names anywhere in an object (pods, templates).

        The last-applied-configuration annotation repeats the whole object as a JSON string,
        so it is dropped rather than parsed.
        """
        if isinstance(obj, dict):
            scrubbed: dict[str, Any] = {}
            for key, value in obj.items():
                if key == "annotations" and isinstance(value, dict):
                    value = {k: ("[omitted: duplicate of this object]" if k == LAST_APPLIED else v)
                             for k, v in value.items()}
                if key == "env" and isinstance(value, list):
                    value = [self._scrub_env_entry(entry, where) for entry in value]
                scrubbed[key] = self.scrub_object(value, where)
            return scrubbed
        if isinstance(obj, list):
            return [self.scrub_object(item, where) for item in obj]
        return obj

    def _scrub_env_entry(self, entry: Any, where: str) -> Any:
        if isinstance(entry, dict) and isinstance(entry.get("value"), str) and isinstance(entry.get("name"), str):
            return {**entry, "value": self.redact_env_value(entry["name"], entry["value"], where)}
        return entry

    def redact_lines(self, lines: Iterable[str], where: str, batch: int = 512) -> Iterator[str]:
        """Redact a stream of lines (see redact_blocks); yields newline-terminated text."""
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= batch:
                yield from self.redact_blocks(["".join(buffer)], where)
                buffer = []
        if buffer:
            yield from self.redact_blocks(["".join(buffer)], where)

    def redact_blocks(self, blocks: Iterable[str], where: str) -> Iterator[str]:
        """Redact a stream of newline-terminated blocks of text.

        Clean blocks (no rule's anchor in them) pass through untouched; otherwise only the
        lines holding an anchor are redacted. A PEM block that a block boundary cuts is held
        until its END line arrives, so it is redacted whole.
        """
        held = ""
        for block in blocks:
            text = held + block
            lowered = text.lower()
            begin = lowered.rfind("-----begin")
            if begin != -1 and "private key-----" in lowered[begin:] and "-----end" not in lowered[begin:] \
                    and len(text) < 1024 * 1024:
                held = text
                continue
            held = ""
            yield self._redact_block(text, lowered, where)
        if held:
            yield self._redact_block(held, held.lower(), where)

    def _redact_block(self, text: str, lowered: str, where: str) -> str:
        rules = [rule for rule in (*BUILTIN_RULES, *self.extra_rules) if rule.may_match(lowered)]
        if not rules:
            return text
        if any(rule.kind == "pem-private-key" or not rule.anchors for rule in rules):
            return self.redact(text, where)  # multi-line shapes and unanchored patterns: the block as one text
        anchors = tuple(anchor for rule in rules for anchor in rule.anchors)
        lines = text.splitlines(keepends=True)
        return "".join(self.redact(line, where) if any(a in line.lower() for a in anchors) else line
                       for line in lines)

    def report(self) -> dict[str, object]:
        by_kind: Counter[str] = Counter()
        by_file: dict[str, dict[str, int]] = {}
        for (where, kind), count in sorted(self.counts.items()):
            by_kind[kind] += count
            by_file.setdefault(where, {})[kind] = count
        return {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())), "by_file": by_file}


def find_leaks(path: Path) -> list[str]:
    """Known secret shapes still present in a file (kinds only, never the values)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lowered = text.lower()
    found = []
    for rule in LEAK_SHAPES:
        if not rule.may_match(lowered):
            continue
        for match in rule.pattern.finditer(text):
            if not match.group(rule.group).startswith("[REDACTED:"):
                found.append(rule.kind)
                break
    return found

"""Redaction of untrusted text and objects before anything is written or sent.

Each secret is replaced by `[REDACTED:<kind>:<hash6>]`, the hash being an HMAC of the
value under a key derived per incident (`token_key`): the same secret gets the same token
in every file of the snapshot and in every run for the incident (so a restarted Job
produces the same snapshot), tokens differ across incidents, and a token reveals nothing.
Counts per kind and file are kept for the redaction report; values never are.

Three sources of rules, applied in one pass, the most specific first:
- shapes of whole secrets: PEM/PGP private keys (also when the bounds cut off the BEGIN
  or END line), JWTs, provider tokens (cloud, Slack, Stripe, Google, Azure, GitLab, GitHub);
- the rule corpus of Yelp's detect-secrets (a pinned dependency), by value;
- assignments whose name is a secret by its words (see `secret_names`), in every syntax
  that reaches the evidence: `k=v`, `k: v`, JSON and JSON inside JSON strings, headers,
  `--flag value`, URL credentials; and long random-looking strings (entropy).

Pure functions and one stateful object (the counts); no I/O.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import hmac
import math
import re
import secrets
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from pathops_contracts.secret_names import is_secret_name as _is_secret_name_uncached

TOKEN = re.compile(r"\[REDACTED:[a-z0-9-]+:[0-9a-f]{6}\]")


@functools.lru_cache(maxsize=4096)
def _is_short_secret_name(name: str) -> bool:
    return _is_secret_name_uncached(name)


def is_secret_name(name: str) -> bool:
    """secret_names.is_secret_name, remembered for short names: objects repeat the same keys (300
    replicas of one pod template), and splitting a name into words is a regex each time."""
    return _is_short_secret_name(name) if len(name) <= 256 else _is_secret_name_uncached(name)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TOKEN_KEY_CONTEXT = b"pathops evidence redaction token key v1\n"


def token_key(incident_id: str, signing_key: str | None) -> bytes:
    """The HMAC key of redaction tokens: derived from the incident under the signing key.

    Stable across runs for one incident (restart-safe snapshots), different across
    incidents, and unguessable while the signing key stays secret. Without a signing key
    there is nothing secret to derive from, so the key is random (tokens then differ per run).
    """
    if not signing_key:
        return secrets.token_bytes(32)
    return hmac.new(signing_key.encode(), TOKEN_KEY_CONTEXT + incident_id.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group holds the secret value
    # Lower-case literals of which at least one occurs in any match: a cheap substring test
    # decides whether the regex needs to run at all. Empty: always run (extra patterns).
    anchors: tuple[str, ...] = ()
    check: Callable[[str], bool] | None = None  # the value must also pass this

    def may_match(self, lowered: str) -> bool:
        return not self.anchors or any(anchor in lowered for anchor in self.anchors)


def _rule(kind: str, regex: str, group: int = 0, anchors: tuple[str, ...] = (),
          check: Callable[[str], bool] | None = None) -> Rule:
    return Rule(kind, re.compile(regex), group, anchors, check)


def _is_basic_credentials(value: str) -> bool:
    """`Basic <base64 of user:password>`: only what decodes to a colon pair is a credential."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(value: str) -> bool:
    """A long string of mixed case and digits with high entropy, that is not an identifier.

    Hex strings (commit SHAs, image digests, UUIDs, trace ids) are never random here: a fix
    needs them, and hex secrets are found by their names instead.
    """
    if len(value) < ENTROPY_MIN_LENGTH or re.fullmatch(r"[0-9a-fA-F-]+", value):
        return False
    if not (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"[0-9]", value)):
        return False
    return shannon_entropy(value) >= ENTROPY_MIN_BITS


ENTROPY_MIN_LENGTH = 24
ENTROPY_MIN_BITS = 4.2
PEM_BEGIN = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
PEM_END = r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
# An optional log timestamp (timestamps=true) before each line of a key cut by the bounds.
_LINE_PREFIX = r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z )?"
# Body lines of a key are 64 (or 76) characters; only the last, just before END, is shorter.
_BODY_LINE = re.compile(rf"{_LINE_PREFIX}[A-Za-z0-9+/=]{{40,}}\r?")
_LAST_BODY_LINE = re.compile(rf"{_LINE_PREFIX}[A-Za-z0-9+/=]+\r?")
_ESCAPED_BODY_LINE = re.compile(r"[A-Za-z0-9+/=]{40,}(?:\\r)?")
_ESCAPED_LAST_BODY_LINE = re.compile(r"[A-Za-z0-9+/=]+(?:\\r)?")
_ORPHAN_END = re.compile(rf"{_LINE_PREFIX}{PEM_END}")

# Order matters: specific shapes first, generic assignments (below) and entropy last.
BUILTIN_RULES: tuple[Rule, ...] = (
    _rule("pem-private-key", rf"{PEM_BEGIN}[\s\S]*?(?:{PEM_END}|$(?![\s\S]))", anchors=("private key",)),
    _rule("pem-private-key", r"PuTTY-User-Key-File-[0-9]:[\s\S]*?Private-MAC: *[0-9a-f]+", anchors=("putty",)),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", anchors=("eyj",)),
    _rule("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", anchors=("akia", "asia", "abia", "acca")),
    _rule("gitlab-token", r"\bgl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_-]{20,}",
          anchors=("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "gloas-",
                   "glsoat-", "glffct-")),
    _rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
          anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _rule("slack-token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", anchors=("xox",)),
    _rule("slack-webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
          anchors=("hooks.slack.com",)),
    _rule("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test|prod)_[A-Za-z0-9]{10,}", anchors=("_live_", "_test_", "_prod_")),
    _rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", anchors=("aiza",)),
    _rule("azure-storage-key", r"(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=([^;\s\"'&\\]{8,})",
          1, anchors=("accountkey=", "sharedaccesskey=", "sharedaccesssignature=", "sig=")),
    # The password runs to the last '@' before the host (it may hold '/' or '@'), bounded so that a
    # line of '://' cannot make the search quadratic.
    _rule("url-credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'\\]{0,256}:([^\s\"'\\]{1,256})@[^\s@/\"'\\]+", 1,
          anchors=("://",)),
    _rule("basic-credentials", r"(?i)\bbasic\s+([A-Za-z0-9+/]{6,}={0,2})", 1, anchors=("basic",),
          check=_is_basic_credentials),
    _rule("bearer-token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})", 1, anchors=("bearer",)),
    _rule("aws-secret-key", r"(?i)aws_?secret_?access_?key\W{0,5}([A-Za-z0-9/+=]{40})", 1, anchors=("secret",)),
)

# Rules of detect-secrets (https://github.com/Yelp/detect-secrets, Apache-2.0) whose hits are
# redacted by value, each with the substrings one of which every hit holds (lower-case ones are
# looked for case-insensitively, others as written): a cheap test before the regexes run.
CORPUS: tuple[tuple[BasePlugin, tuple[str, ...]], ...] = (
    (AWSKeyDetector(), ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "aws")),
    (AzureStorageKeyDetector(), ("AccountKey=",)),
    (SlackDetector(), ("xox", "hooks.slack.com")),
    (StripeDetector(), ("k_live_",)),
    (JwtTokenDetector(), ("eyJ",)),
    (GitHubTokenDetector(), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (GitLabTokenDetector(), ("gl", "GR1348941")),
    (OpenAIDetector(), ("T3BlbkFJ",)),
    (SendGridDetector(), ("SG.",)),
    (NpmDetector(), ("_authToken",)),
    (PypiTokenDetector(), ("pypi-",)),
    (TwilioKeyDetector(), ("AC", "SK")),
    (MailchimpDetector(), ("-us",)),
    (DiscordBotTokenDetector(), ()),
    (SquareOAuthDetector(), ("sq0csp-",)),
    (ArtifactoryDetector(), ("AKC", "AP")),
    # Not TelegramBotTokenDetector: its only anchor, ':', is on every log line; its tokens are random
    # enough for the entropy rule, and the final scan runs it.
)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def lower_ascii(text: str) -> str:
    """Lower-cased A-Z only: the same length as text, so offsets in one are offsets in the other."""
    # str.lower() is far faster, and on ASCII text it is the same mapping.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


# Characters from the most to the least frequent in logs and objects; any other (upper case...) is rarer.
_FREQUENT = " etaoinsrhldcu0123456789:.-/\"mfpgwyb=,_vkxjqz"


def _rarest(anchor: str) -> str:
    return max(anchor, key=lambda char: _FREQUENT.find(char) if char in _FREQUENT else len(_FREQUENT))


class Screen:
    """Which anchors occur in one text, each looked for once.

    An anchor's rarest character is looked for first (one memchr-fast scan, shared by every
    anchor with that character); the anchor itself only when that character occurs. Most
    anchors are thus ruled out without a substring search over the whole text.
    """

    def __init__(self, text: str, lowered: str) -> None:
        self.text = text
        self.lowered = lowered
        self._chars: dict[tuple[str, bool], bool] = {}
        self._anchors: dict[tuple[str, bool], bool] = {}

    def holds(self, anchor: str, folded: bool) -> bool:
        """Whether anchor occurs in the text (`folded`: in its lower-cased form)."""
        key = (anchor, folded)
        found = self._anchors.get(key)
        if found is None:
            hay = self.lowered if folded else self.text
            char = _RAREST.get(anchor)
            if char is None:
                char = _RAREST[anchor] = _rarest(anchor)
            seen = self._chars.get((char, folded))
            if seen is None:
                seen = self._chars[(char, folded)] = char in hay
            found = self._anchors[key] = seen and anchor in hay
        return found

    def holds_any(self, anchors: tuple[str, ...]) -> bool:
        """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
        return not anchors or any(self.holds(anchor, anchor.islower()) for anchor in anchors)


_RAREST: dict[str, str] = {}


def holds_any(text: str, lowered: str, anchors: tuple[str, ...]) -> bool:
    """Whether one of the anchors occurs (lower-case anchors case-insensitively); no anchors: True."""
    return Screen(text, lowered).holds_any(anchors)

# Where a name is spelled in running text: every keyword of `secret_names` as a substring.
NAME_ANCHORS = ("pass", "pwd", "secret", "token", "credential", "creds", "auth", "key", "cookie", "session")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.-]")
# After a name: optional closing quote(s) (plain or JSON-escaped), then `=`/`:`/`:=` and a value,
# plain, quoted, JSON-escaped-quoted, or after an auth scheme word.
_ASSIGNED = re.compile(
    r"""(?:\\*["'])?[ \t]*(?::=|=>|[:=])[ \t]*(?:"""
    r"""(?P<esc>\\+)"(?P<v_esc>(?:[^"\\\n]|\\(?!(?P=esc)")[^\n])*?)(?P=esc)"|"""
    r""""(?P<v_dq>(?:[^"\\\n]|\\.)*)"|"""
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


def _hints(lowered: str, screen: Screen | None = None) -> list[tuple[int, int]]:
    """Where a name anchor occurs, found by plain substring search (far faster than a regex)."""
    found = []
    for anchor in NAME_ANCHORS:
        if screen is not None and not screen.holds(anchor, True):
            continue
        position = lowered.find(anchor)
        while position != -1:
            found.append((position, position + len(anchor)))
            position = lowered.find(anchor, position + 1)
    return sorted(found)


def assignment_spans(text: str, lowered: str | None = None, screen: Screen | None = None
                     ) -> Iterator[tuple[int, int]]:
    """Spans of values assigned to secret names, in any of the syntaxes above."""
    last_name_end = -1  # names and values already read: hints inside them are not names
    tokens = [match.span() for match in TOKEN.finditer(text)] if "[REDACTED:" in text else []
    for start, end in _hints(lower_ascii(text) if lowered is None else lowered, screen):
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
                if not is_benign_value(value):
                    yield match.span(group)
                break


def orphan_key_end_spans(text: str) -> Iterator[tuple[int, int]]:
    """The END line of a private key whose BEGIN was cut off, with the body lines before it.

    Walks back from each END line over base64 lines (real or JSON-escaped newlines): linear,
    where a regex would try every line as a start.
    """
    for end in _ORPHAN_END.finditer(text):
        start = end.start()
        for separator, last, body in (("\n", _LAST_BODY_LINE, _BODY_LINE),
                                      ("\\n", _ESCAPED_LAST_BODY_LINE, _ESCAPED_BODY_LINE)):
            line = last
            while text.endswith(separator, 0, start):
                line_start = text.rfind(separator, 0, start - len(separator))
                line_start = 0 if line_start == -1 else line_start + len(separator)
                if not line.fullmatch(text, line_start, start - len(separator)):
                    break
                start, line = line_start, body
        yield start, end.end()


# A candidate starts where a run of these characters starts (the look-behind): a search that tried
# every position inside a shorter run would read each run once per character.
_ENTROPY_CANDIDATE = re.compile(rf"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{{{ENTROPY_MIN_LENGTH},}}")


# Bytes of the candidates' class as "a", every other byte as a blank: the UTF-8 bytes of a non-ASCII
# character are all >= 0x80, so it breaks a run as it does in the text (bytes.translate is the fast one).
_RUN_MAP = bytes(ord("a") if code < 128 and re.fullmatch(r"[A-Za-z0-9+/=_-]", chr(code)) else ord(" ")
                 for code in range(256))
_RUN = b"a" * ENTROPY_MIN_LENGTH


def has_candidate(text: str) -> bool:
    """Whether text holds an entropy candidate: a translation and a substring test, far faster than
    the regex search on text without one (most text)."""
    return _RUN in text.encode("utf-8", "surrogatepass").translate(_RUN_MAP)


def entropy_spans(text: str) -> Iterator[tuple[int, int]]:
    if not has_candidate(text):
        return
    for match in _ENTROPY_CANDIDATE.finditer(text):
        if looks_random(match.group()):
            yield match.span()


def load_extra_rules(lines: Iterable[str], source: str) -> tuple[Rule, ...]:
    """Extra patterns, one `kind: regex` per line (# comments); the whole match is redacted."""
    rules = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, regex = line.partition(":")
        if not sep or not re.fullmatch(r"[a-z0-9-]+", kind.strip()):
            raise ValueError(f"{source}:{number}: expected 'kind: regex'")
        try:
            rules.append(Rule(kind.strip(), re.compile(regex.strip())))
        except re.error as error:
            raise ValueError(f"{source}:{number}: bad regex: {error}") from error
    return tuple(rules)


Span = tuple[int, int, str]  # value start, value end, kind

# Every anchor of every anchored rule, lower-cased (a superset of what each rule looks for): a short
# text with none of them can only hold what the anchorless rules find.
_ANY_ANCHOR = re.compile("|".join(re.escape(anchor) for anchor in sorted(
    {anchor.lower() for anchor in (*(a for rule in BUILTIN_RULES for a in rule.anchors),
                                   *(a for _, anchors in CORPUS for a in anchors), *NAME_ANCHORS, "private key")},
    key=lambda anchor: (-len(anchor), anchor))))
SHORT_TEXT = 4096  # longer texts are screened anchor by anchor instead
KNOWN_TEXT = 256  # texts up to this length have their spans remembered...
KNOWN_ENTRIES = 8192  # ...this many of them (about 3 MB at most)
# Anchorless detect-secrets plugins whose every hit holds a run of 24 of [a-zA-Z\d_-] (Discord:
# `[MNO][a-zA-Z\d_-]{23,25}\.`), on ASCII text an entropy candidate: run only where there is one
# (`\d` also matches non-ASCII digits: on other text they always run).
_RUN_GATED = (DiscordBotTokenDetector,)


@dataclass
class Redactor:
    extra_rules: tuple[Rule, ...] = ()
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (file, kind) -> n
    # Spans of short texts already read: objects repeat the same strings (300 replicas of one pod
    # template), and spans depend on the text and the rules only. Bounded; cleared when full.
    _known: dict[str, tuple[Span, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:6]
        return f"[REDACTED:{kind}:{digest}]"

    def spans(self, text: str) -> list[Span]:
        """Every secret in text as non-overlapping value spans, by rule priority."""
        if len(text) > KNOWN_TEXT:
            return self._spans(text)
        known = self._known.get(text)
        if known is None:
            known = tuple(self._spans(text))
            if len(self._known) >= KNOWN_ENTRIES:
                self._known.clear()
            self._known[text] = known
        return list(known)

    def _spans(self, text: str) -> list[Span]:
        lowered = lower_ascii(text)
        chosen: list[Span] = []  # sorted, non-overlapping

        def take(start: int, end: int, kind: str) -> None:
            if end <= start or TOKEN.fullmatch(text, start, end):
                return
            index = bisect.bisect_left(chosen, (start, end, kind))
            if (index > 0 and chosen[index - 1][1] > start) or (index < len(chosen) and chosen[index][0] < end):
                return  # overlaps a span taken by a rule of higher priority
            chosen.insert(index, (start, end, kind))

        # Fast paths, each a necessary condition: a short text holding no anchor at all skips every
        # anchored rule in one regex search; a long one has each anchor looked for once (Screen).
        anchored = len(text) > SHORT_TEXT or _ANY_ANCHOR.search(lowered) is not None
        long_run = has_candidate(text)  # also a necessary condition of the run-gated plugins on ASCII text
        if not (anchored or long_run or self.extra_rules or not text.isascii()):
            return chosen  # only anchored rules, and rules needing a long run, could have matched
        screen = Screen(text, lowered)
        candidates = [match.span() for match in _ENTROPY_CANDIDATE.finditer(text)] if long_run else []
        for rule in (*BUILTIN_RULES, *self.extra_rules):
            if rule.anchors and not (anchored and any(screen.holds(anchor, True) for anchor in rule.anchors)):
                continue
            for match in rule.pattern.finditer(text):
                if rule.check is None or rule.check(match.group(rule.group)):
                    take(*match.span(rule.group), rule.kind)
        if anchored and screen.holds("private key", True):
            for start, end in orphan_key_end_spans(text):
                take(start, end, "pem-private-key")
        for plugin, anchors in CORPUS:
            if anchors and not (anchored and screen.holds_any(anchors)):
                continue
            if isinstance(plugin, _RUN_GATED) and not (long_run or not text.isascii()):
                continue
            for value in set(plugin.analyze_string(text)):
                kind = "ds-" + re.sub(r"[^a-z0-9]+", "-", plugin.secret_type.lower()).strip("-")
                for found in re.finditer(re.escape(value), text):
                    take(*found.span(), kind)
        if anchored:
            for start, end in assignment_spans(text, lowered, screen):
                take(start, end, "secret-assignment")
        for start, end in candidates:
            if looks_random(text[start:end]):
                take(start, end, "high-entropy")
        return chosen

    def redact(self, text: str, where: str) -> str:
        """One pass: every rule's matches on the original text, non-overlapping by rule priority."""
        chosen = self.spans(text)
        if not chosen:
            return text
        pieces = []
        cursor = 0
        for start, end, kind in chosen:
            pieces.append(text[cursor:start])
            pieces.append(self.token(kind, text[start:end]))
            self.counts[(where, kind)] += 1
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def redact_env_value(self, name: str, value: str, where: str) -> str:
        """A literal value whose name is secret (env var, ConfigMap key, flag) is replaced whole."""
        if is_secret_name(name) and not is_benign_value(value):
            self.counts[(where, "secret-env-value")] += 1
            return self.token("secret-env-value", value)
        return self.redact(value, where)

    def scrub_object(self, obj: Any, where: str) -> Any:
        """Redact an object structurally: every string, with secret names replacing values whole.

        Keys with secret names (`password: ...`), env entries (`{name, value}`) and argv pairs
        (`["--db-password", "VALUE"]`) have their value replaced whole; every other string goes
        through `redact`. The last-applied-configuration annotation repeats the whole object as
        a JSON string, so it is dropped rather than parsed.
        """
        if isinstance(obj, dict):
            scrubbed: dict[str, Any] = {}
            for raw_key, value in obj.items():
                key = self.redact(raw_key, where) if isinstance(raw_key, str) else raw_key
                if key == LAST_APPLIED:
                    scrubbed[key] = "[omitted: duplicate of this object]"
                elif isinstance(value, str) and isinstance(key, str) and is_secret_name(key):
                    scrubbed[key] = self.redact_env_value(key, value, where)
                elif key == "value" and isinstance(value, str) and isinstance(obj.get("name"), str):
                    scrubbed[key] = self.redact_env_value(obj["name"], value, where)
                elif isinstance(value, str):  # what scrub_object does with a string, one call fewer
                    scrubbed[key] = self.redact(value, where)
                elif value is None or isinstance(value, (bool, int, float)):  # left as they are
                    scrubbed[key] = value
                else:
                    scrubbed[key] = self.scrub_object(value, where)
            return scrubbed
        if isinstance(obj, list):
            out: list[Any] = []
            for index, item in enumerate(obj):
                previous = obj[index - 1] if index else None
                if isinstance(item, str) and isinstance(previous, str) and _is_secret_flag(previous):
                    out.append(self.redact_env_value(previous.lstrip("-"), item, where))
                else:
                    out.append(self.scrub_object(item, where))
            return out
        if isinstance(obj, str):
            return self.redact(obj, where)
        return obj

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

        A private key that a block boundary cuts is held until its END line arrives, so it
        is redacted whole; one whose END never comes is redacted to the end of the text.
        """
        held = ""
        for block in blocks:
            text = held + block
            lowered = text.lower()
            begin = lowered.rfind("-----begin")
            if begin != -1 and "private key" in lowered[begin:] and "-----end" not in lowered[begin:] \
                    and len(text) < 1024 * 1024:
                held = text
                continue
            held = ""
            yield self.redact(text, where)
        if held:
            yield self.redact(held, where)

    def report(self) -> dict[str, object]:
        by_kind: Counter[str] = Counter()
        by_file: dict[str, dict[str, int]] = {}
        for (where, kind), count in sorted(self.counts.items()):
            by_kind[kind] += count
            by_file.setdefault(where, {})[kind] = count
        return {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())), "by_file": by_file}


def _is_secret_flag(item: str) -> bool:
    return item.startswith("-") and "=" not in item and " " not in item and is_secret_name(item.lstrip("-"))

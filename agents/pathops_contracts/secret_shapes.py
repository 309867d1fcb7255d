"""Shapes of whole secret values: the built-in rules, the detect-secrets corpus, entropy, extra rules.

- shapes of whole secrets: PEM/PGP private keys (also when the bounds cut off the BEGIN
  or END line), JWTs, provider tokens (cloud, Slack, Stripe, Google, Azure, GitLab, GitHub);
- the rule corpus of Yelp's detect-secrets (a pinned dependency), by value;
- long random-looking strings (entropy), and extra `kind: regex` patterns of the operator.

Pure; no I/O. The redactor (`redaction.py`) applies them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pathops_contracts.detect_secrets_plugins import (
    ArtifactoryDetector,
    AWSKeyDetector,
    AzureStorageKeyDetector,
    BasePlugin,
    DiscordBotTokenDetector,
    GitHubTokenDetector,
    GitLabTokenDetector,
    JwtTokenDetector,
    MailchimpDetector,
    NpmDetector,
    OpenAIDetector,
    PypiTokenDetector,
    SendGridDetector,
    SlackDetector,
    SquareOAuthDetector,
    StripeDetector,
    TwilioKeyDetector,
)


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group holds the secret value
    # Literals of which at least one occurs in any match (lower-case ones in any case, others as
    # written: a case-sensitive regex has its literal prefix as written, a rarer string): a cheap
    # substring test decides whether the regex needs to run at all. Empty: always run (extra patterns).
    anchors: tuple[str, ...] = ()
    check: Callable[[str], bool] | None = None  # the value must also pass this

    def may_match(self, text: str, lowered: str) -> bool:
        return not self.anchors or any(anchor in (lowered if anchor.islower() else text) for anchor in self.anchors)


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
    # One case only (paths, names, most hex ids: most candidates) misses a class: settled before any regex.
    if len(value) < ENTROPY_MIN_LENGTH or value.islower() or value.isupper() or _HEX.fullmatch(value):
        return False
    if not (_LOWER.search(value) and _UPPER.search(value) and _DIGIT.search(value)):
        return False
    return shannon_entropy(value) >= ENTROPY_MIN_BITS


_HEX = re.compile(r"[0-9a-fA-F-]+")
_LOWER, _UPPER, _DIGIT = re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]")


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

PUTTY_MARKER = "PuTTY-User-Key-File"  # a PuTTY key file's first line starts so (the final scan refuses it)

# Order matters: specific shapes first, generic assignments (below) and entropy last.
BUILTIN_RULES: tuple[Rule, ...] = (
    _rule("pem-private-key", rf"{PEM_BEGIN}[\s\S]*?(?:{PEM_END}|$(?![\s\S]))", anchors=("PRIVATE KEY",)),
    # A PuTTY key file from its first line to its MAC; a first line whose MAC never comes (a key cut off,
    # or the marker alone in a line) to the end of the text, as a BEGIN without END: the final scan
    # refuses any "PuTTY-User-Key-File", and one log line must not stop the whole snapshot.
    _rule("pem-private-key", rf"{PUTTY_MARKER}[\s\S]*?(?:Private-MAC: *[0-9a-f]+|$(?![\s\S]))",
          anchors=(PUTTY_MARKER,)),
    # A key's BEGIN words without the PEM dashes around them (`openssl: expected BEGIN RSA PRIVATE KEY`)
    # start no key: the words alone, which detect-secrets' private-key detector (in the final scan) refuses.
    _rule("pem-private-key", r"BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?", anchors=("PRIVATE KEY",)),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", anchors=("eyJ",)),
    _rule("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", anchors=("AKIA", "ASIA", "ABIA", "ACCA")),
    # GitLab and GitHub tokens also glued to a word, a JSON-escaped newline's `n` above all (`...\\nglpat-...`):
    # detect-secrets' detectors match there too but give the prefix alone (their regex's group, `glpat`).
    _rule("gitlab-token", r"gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_-]{20,}",
          anchors=("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "gloas-",
                   "glsoat-", "glffct-")),
    _rule("github-token", r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
          anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _rule("slack-token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", anchors=("xox",)),
    _rule("slack-webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
          anchors=("hooks.slack.com",)),
    _rule("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test|prod)_[A-Za-z0-9]{10,}", anchors=("_live_", "_test_", "_prod_")),
    _rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", anchors=("AIza",)),
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
    (DiscordBotTokenDetector(), ("M", "N", "O")),  # `[MNO][a-zA-Z\d_-]{23,25}\.`...: one of them as written
    (SquareOAuthDetector(), ("sq0csp-",)),
    (ArtifactoryDetector(), ("AKC", "AP")),
    # Not TelegramBotTokenDetector: its only anchor, ':', is on every log line; its tokens are random
    # enough for the entropy rule, and the final scan runs it.
)


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


def candidate_spans(text: str) -> list[tuple[int, int]]:
    """Every entropy candidate, as `_ENTROPY_CANDIDATE.finditer` finds them: none at once on text without a run.

    On ASCII text, offsets in the translation are offsets in the text and each maximal run of 24 or more is one
    candidate: found by substring searches, no regex at all.
    """
    runs = text.encode("utf-8", "surrogatepass").translate(_RUN_MAP)
    start = runs.find(_RUN)
    if start == -1:
        return []
    if not text.isascii():
        return [match.span() for match in _ENTROPY_CANDIDATE.finditer(text)]
    spans = []
    while start != -1:  # the first run of 24 after the end of the last run starts a run
        end = runs.find(b" ", start)
        end = len(runs) if end == -1 else end
        spans.append((start, end))
        start = runs.find(_RUN, end)
    return spans


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



# detect-secrets plugins whose every hit, on ASCII text, is inside an entropy candidate (a run of 24 of
# [A-Za-z0-9+/=_-]): run, and their anchors looked for, only where there is one. Discord, anchorless:
# `[MNO][a-zA-Z\d_-]{23,25}\.` (`\d` also matches non-ASCII digits: on other text it always runs);
# Mailchimp: `[0-9a-z]{32}-us[0-9]{1,2}`, whose anchor "-us" is on every log line with a date.
_RUN_GATED = (DiscordBotTokenDetector, MailchimpDetector)

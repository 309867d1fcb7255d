"""The final, fail-closed secret scan of whatever leaves a tool (snapshot files, reports).

Deliberately independent of the redactor (`redaction.py`), so that a gap in one is not
a gap in both: it runs the detectors of Yelp's detect-secrets as they ship (all of its
regex plugins, and its keyword denylist), its own scan of `name = value` pairs over a
broader set of names, private-key fragments (BEGIN, END or body lines alone), and an
entropy check. Only what is already a redaction token, or a value that cannot be a
secret (booleans, nulls, variable references), is let through.

It reports kinds and line numbers, never the values. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pathops_contracts.detect_secrets_plugins import DENYLIST, PLUGIN_CLASSES, BasePlugin
from pathops_contracts.occurrences import Finder, start_ranges
from pathops_contracts.random_strings import _candidates, _random, _runs
from pathops_contracts.redaction_screen import AnchorSet, Screen, key_of, lower_ascii

TOKEN = re.compile(r"\[REDACTED:[a-z0-9-]+:[0-9a-f]{6}\]")
MASK = "\0"
# detect-secrets plugins that are not regex shapes (run differently below) or that flag evidence: IP
# addresses, and Telegram's `<8-10 digits>:<35 characters>`, which an epoch time before a long name matches
# (a random Telegram token is caught by the entropy check).
_NOT_RUN = {"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector",
            "TelegramBotTokenDetector"}
PLUGINS: tuple[BasePlugin, ...] = tuple(cls() for cls in PLUGIN_CLASSES if cls.__name__ not in _NOT_RUN)
_KEYWORDS = ("key", "pwd", "pass", "token", "secret")
# Substrings one of which every hit of a plugin holds (lower-case: any case; others: as written),
# checked before its regexes run. A plugin not listed here (a newer detect-secrets) always runs.
PLUGIN_ANCHORS: dict[str, tuple[str, ...]] = {
    "ArtifactoryDetector": ("AKC", "AP"), "AWSKeyDetector": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "aws"),
    "AzureStorageKeyDetector": ("AccountKey=",), "BasicAuthDetector": ("://",),
    "CloudantDetector": (*_KEYWORDS, "pw", "cloudant"), "GitHubTokenDetector": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLabTokenDetector": ("gl", "GR1348941"), "IbmCloudIamDetector": _KEYWORDS, "IbmCosHmacDetector": _KEYWORDS,
    "JwtTokenDetector": ("eyJ",), "MailchimpDetector": ("-us",), "NpmDetector": ("_authToken",),
    "OpenAIDetector": ("T3BlbkFJ",), "PrivateKeyDetector": ("PRIVATE KEY", "PuTTY"), "PypiTokenDetector": ("pypi-",),
    "SendGridDetector": ("SG.",), "SlackDetector": ("xox", "hooks.slack.com"), "SoftlayerDetector": (
        *_KEYWORDS, "softlayer"), "SquareOAuthDetector": ("sq0csp-",), "StripeDetector": ("k_live_",),
    "TwilioKeyDetector": ("AC", "SK"), "DiscordBotTokenDetector": ("M", "N", "O"),
}
# Plugins whose regexes cannot match across a newline (literals, blanks, quotes, classes without
# `\s` or `\n`, `.` without DOTALL) and whose hits hold one of their lower-case anchors: searched only in
# the lines that hold one (a file name with "secret" in it made them read a whole manifest).
_LINE_SCOPED = {"CloudantDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "SoftlayerDetector"}
# Lines holding none of these cannot hold a secret name; only the others are searched for pairs.
NAME_ANCHORS = ("key", "pass", "pwd", "pw", "secret", "token", "cred", "auth", "cookie", "session", "sig", "contrase")
# Names: detect-secrets' keyword denylist plus our own, each matched as words of the name.
_EXTRA_NAME_WORDS = ("token", "credentials?", "creds", "auth", "authorization", "cookie", "sessionid", "passcode",
                     "pass", "pw", "sig", "signature", "apikey", "accountkey", "accesskey", "secretkey",
                     "privatekey", "clientsecret", "(?:api|private|access|secret|account|client|signing|"
                     "encryption|master|auth|service|ssh|shared|storage|session|hmac|tls|sas|app|db|database)"
                     "_?key(?:_?data)?")
_NAME_WORD = re.compile(r"(?:^|_)(?:" + "|".join((*DENYLIST, *_EXTRA_NAME_WORDS)) + r")(?:_|$)")
# A last word that says what the name is about, not that it is the secret itself.
_DESCRIBES = re.compile(
    r"_(?:name|names|url|uri|endpoint|host|port|file|path|dir|ttl|seconds|minutes|ms|timeout|expiry|expires|"
    r"length|size|count|id|type|kind|ref|header|enabled|disabled|required|used|mode|version|policy|format|"
    r"source|provider|method|issuer|audience|scopes?|mount|rotation|interval|retries|limit|max|min|hint|"
    r"algorithm|location|env|namespace|label|selector|optional|volume|reference|keys?)$")
_PAIR = re.compile(
    # A name starts after a non-name character and is taken whole (possessive): one try per name, linear.
    r"""(?<![A-Za-z0-9_.-])(?P<name>-{0,2}[A-Za-z_][A-Za-z0-9_.-]*+)(?:\\*["'])?[ \t]*(?::=|=>|[:=])[ \t]*"""
    r"""(?:\\*["'])?(?:(?i:bearer|basic|token)[ \t]+)?(?P<value>[^\s"'`,;&\\{}]+)""")
# `--db-password VALUE`: a flag, blanks, then a value that is not another flag.
_FLAG = re.compile(r"""(?<![\w-])(?P<name>--?[A-Za-z][A-Za-z0-9_.-]*+)[ \t]+["']?"""
                   r"""(?P<value>[^\s"'`,;&\\{}-][^\s"'`,;&\\{}]*)""")
_URL_CREDENTIALS = re.compile(r"://[^\s:/@\"'\\]{0,256}:([^\s\"'\\]{1,256})@[^\s@/\"'\\]+")
_PEM = re.compile(r"-----(?:BEGIN|END) [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File")
# Never secrets: short numbers (counts, ports), auth scheme words, booleans, nulls, masks, variable references.
_BENIGN = re.compile(r"(?i)[0-9]{1,9}|basic|bearer|token|digest|negotiate|true|false|yes|no|null|none|nil|on|off|"
                     r"\*+|\$\(?\{?[A-Za-z_][A-Za-z0-9_]*\}?\)?")

# Plugins whose every hit holds a run of _RANDOM's class this long: on ASCII text, searched (and their
# anchors looked for) only where there is one. Discord, anchorless: `[MNO][a-zA-Z\d_-]{23,25}\.` (`\d` also
# matches non-ASCII digits); Mailchimp: `[0-9a-z]{32}-us[0-9]{1,2}`, whose anchor is on every dated log line.
_RUN_GATED = {"DiscordBotTokenDetector": 24, "MailchimpDetector": 36}
# The private-key markers, as written (the regex is case-sensitive).
_PEM_ANCHORS = ("PRIVATE KEY", "PuTTY-User-Key-File")
# Every anchor above but the run-gated plugins', for one sweep of the screen per text (Screen.present: each
# looked for once, its characters first); a plugin's anchors and the name anchors as keys of it.
_MASKED_START = "[REDACTED:"  # the start of every redaction token, as written
_ANCHORS = AnchorSet((*NAME_ANCHORS, *_PEM_ANCHORS, _MASKED_START,
                      *(a for name, anchors in PLUGIN_ANCHORS.items() if name not in _RUN_GATED for a in anchors)))
_PLUGIN_KEYS = tuple((plugin, type(plugin).__name__, PLUGIN_ANCHORS.get(type(plugin).__name__, ()),
                      AnchorSet.keys(PLUGIN_ANCHORS.get(type(plugin).__name__, ()))) for plugin in PLUGINS)
_PEM_KEYS = AnchorSet.keys(_PEM_ANCHORS)
@dataclass(frozen=True)
class Hit:
    kind: str
    line: int  # 1-based


def _snake(name: str) -> str:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.lstrip("-"))
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _secret_name(name: str) -> bool:
    """Whether name is a secret's, by its words; remembered for short names (log and JSON keys repeat)."""
    return _short_secret_name(name) if len(name) <= 256 else _judge_name(name)


@functools.lru_cache(maxsize=4096)
def _short_secret_name(name: str) -> bool:
    return _judge_name(name)


def _judge_name(name: str) -> bool:
    snake = _snake(name)
    if _DESCRIBES.search(snake) and not re.search(r"(?:api|private|access|secret|account|client|signing)_key$", snake):
        return False
    return bool(_NAME_WORD.search(snake))


def _mask(text: str) -> str:
    """Each redaction token becomes NULs of its length: nothing inside one is a name or a value, and
    a value that merely starts with one (`password=[REDACTED:...]hunter2`) is still seen."""
    if "[REDACTED:" not in text:  # every token starts so: nothing to mask (most values)
        return text
    return TOKEN.sub(lambda token: MASK * len(token.group()), text)


def _clean(value: str) -> bool:
    """A value that is (made of) redaction tokens, or cannot be a secret."""
    rest = _mask(value).replace(MASK, "").strip("()[]<>.:/@")
    return not rest or bool(_BENIGN.fullmatch(rest))


def scan_text(text: str, values: dict[str, set[str]] | None = None) -> list[Hit]:
    """Every secret-looking thing in text that is not a redaction token: kind and line, no value.

    `values`: the detectors' values found (those not clean) are added to it with their kinds, for a caller
    that scans a file in parts: each occurrence of one is a hit wherever it is in the file, as when the
    file is scanned whole (`_offsets`). Held in memory only, never written or logged.
    """
    found: set[tuple[int, str]] = set()

    newlines: list[int] = []  # offsets of the text's newlines, found at the first hit (hits are rare)
    looked = False  # once: on a text without a newline, looking again at each hit made hits quadratic

    def line_of(offset: int) -> int:
        nonlocal looked
        if not looked:
            newlines.extend(match.start() for match in re.finditer("\n", text))
            looked = True
        return bisect.bisect_left(newlines, offset) + 1

    lowered = lower_ascii(text)  # same length as text
    screen = Screen(text, lowered)
    present = screen.present(_ANCHORS)
    runs = _runs(text)
    # A run of 20 is needed by the entropy check, and implied by any longer one (the gates below).
    long_run = b"a" * 20 in runs
    ascii_text = text.isascii()
    for plugin, name, anchors, keys in _PLUGIN_KEYS:
        gate = _RUN_GATED.get(name)
        if gate:  # a run first (on ASCII text), then its anchors (not in the sweep)
            if (ascii_text and not (long_run and b"a" * gate in runs)) or not screen.holds_any(anchors):
                continue
        elif keys and keys.isdisjoint(present):
            continue
        searched = text
        if name in _LINE_SCOPED:
            # Only the anchors the sweep found are looked for again (`present` is exact): each absent one
            # cost a search of the whole text, four plugins over, for nothing.
            occurring = tuple(a for a in anchors if key_of(a) in present or key_of(a) not in _ANCHORS.anchors)
            searched = "\n".join(line for _, line in _lines_with(text, lowered, occurring))
        kind = "detect-secrets:" + plugin.secret_type
        unclean = {value for value in plugin.analyze_string(searched) if not _clean(value)}
        if values is not None:
            for value in unclean:
                values.setdefault(value, set()).add(kind)
        for first, last in _offsets(text, unclean):
            found.update((line, kind) for line in range(line_of(first), line_of(last) + 1))
    masked = _mask(text) if (_MASKED_START, False) in present else text  # no token: nothing to mask
    for url in _URL_CREDENTIALS.finditer(masked):
        if not _clean(url.group(1)):
            found.add((line_of(url.start()), "url-credentials"))
    # Every match holds one of these literals; the regex (a top-level alternation) is slow on text without.
    if not _PEM_KEYS.isdisjoint(present):
        for pem in _PEM.finditer(text):
            found.add((line_of(pem.start()), "private-key"))
    for start, line in _lines_with(masked, lowered, tuple(a for a in NAME_ANCHORS if (a, True) in present)):
        for offset in _pair_offsets(line, start):
            found.add((line_of(offset), "secret-name-value"))
    if long_run:  # masking only breaks runs: none in text, none in masked
        for start, end in _candidates(masked, runs, ascii_text, masked is text):
            if _random(masked[start:end]):
                found.add((line_of(start), "high-entropy"))
    return [Hit(kind, line) for line, kind in sorted(found)]


def _offsets(text: str, values: set[str]) -> Iterator[tuple[int, int]]:
    """(first, last): offsets between which occurrences of a detector's values start, each line of them a
    hit, all found in one pass (`Finder`: a search per value was quadratic): each line holding one is a hit,
    not the first alone (ten copies of one line took ten rounds of replacing the first,
    `evidence_collector.refusals`). Values ending where a longer one does start inside it: its lines after
    its first (a value's lines, as written: one). A value not found as written (never, for the regexes run
    here) is reported at the text's start."""
    if not values:
        return
    seen: set[str] = set()
    yield from start_ranges(Finder(values).longest(text, seen))
    if seen != values:
        yield 0, 0


def _lines_with(text: str, lowered: str, anchors: tuple[str, ...]) -> list[tuple[int, str]]:
    """(offset, line) of every line of text holding one of the lower-case anchors."""
    spans: set[tuple[int, int]] = set()
    for anchor in anchors:
        position = lowered.find(anchor)
        while position != -1:
            start = text.rfind("\n", 0, position) + 1
            end = text.find("\n", position)
            end = len(text) if end == -1 else end
            spans.add((start, end))
            position = lowered.find(anchor, end)
    return [(start, text[start:end]) for start, end in sorted(spans)]


def _pair_offsets(text: str, base: int = 0, depth: int = 0) -> Iterator[int]:
    """Offsets of values assigned to secret names; values are searched again (`"name": "pwd=..."`)."""
    for pattern in (_PAIR, _FLAG):
        for pair in pattern.finditer(text):
            name, value = pair.group("name"), pair.group("value")
            if _secret_name(name) and not _clean(value):
                yield base + pair.start("value")
            elif depth < 3 and len(value) > 4 and (":" in value or "=" in value):
                # A value holds no blank (no flag pair in it); a pair in it needs its ':' or '='.
                yield from _pair_offsets(value, base + pair.start("value"), depth + 1)


def describe(hits: list[Hit], where: str, limit: int = 5) -> str:
    """A one-line, value-free summary of hits for an error message."""
    shown = ", ".join(f"{hit.kind} at {where}:{hit.line}" for hit in hits[:limit])
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return shown + more

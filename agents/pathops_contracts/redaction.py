"""Redaction of untrusted text and objects before anything is written or sent.

Each secret is replaced by `[REDACTED:<kind>:<hash6>]`, the hash being an HMAC of the
value under a key derived per incident (`token_key`): the same secret gets the same token
in every file of the snapshot and in every run for the incident (so a restarted Job
produces the same snapshot), tokens differ across incidents, and a token reveals nothing.
Counts per kind and file are kept for the redaction report; values never are.

Three sources of rules, applied in one pass, the most specific first:
- shapes of whole secrets and the detect-secrets corpus, by value (`secret_shapes`);
- assignments whose name is a secret by its words (`secret_assignments`, `secret_names`), in every
  syntax that reaches the evidence, and structurally in objects (`Redactor.scrub_object`);
- long random-looking strings (entropy, `secret_shapes`).
Each rule's regex runs only where its anchors occur (`redaction_screen`).

Pure functions and one stateful object (the counts); no I/O.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pathops_contracts.occurrences import blanked, covered
from pathops_contracts.random_strings import long_runs, random_spans
from pathops_contracts.redaction_screen import AnchorSet, Screen, key_of, lower_ascii
from pathops_contracts.redaction_tokens import TOKEN, token_key
from pathops_contracts.secret_assignments import (
    NAME_ANCHORS,
    _is_secret_flag,
    assignment_spans,
    is_benign_value,
    is_secret_name,
)
from pathops_contracts.secret_shapes import (
    _ENTROPY_CANDIDATE,  # noqa: F401  (the regex candidate_spans answers as; its tests import it from here)
    _RUN_GATED,
    BUILTIN_RULES,
    CORPUS,
    PUTTY_MARKER,
    Rule,
    candidate_spans,
    has_candidate,
    load_extra_rules,
    looks_random,
    orphan_key_end_spans,
)

__all__ = ["Redactor", "Rule", "Screen", "has_candidate", "is_secret_name", "load_extra_rules", "lower_ascii",
           "token_key"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Span = tuple[int, int, str]  # value start, value end, kind

PEM_ANCHOR = "PRIVATE KEY"  # every PEM rule's match holds it as written (orphan END lines too)
# Every anchor of every anchored rule, lower-cased (a superset of what each rule looks for): a short
# text with none of them can only hold what the anchorless and the run-gated rules find.
_ANY_ANCHOR = re.compile("|".join(re.escape(anchor) for anchor in sorted(
    {anchor.lower() for anchor in (*(a for rule in BUILTIN_RULES for a in rule.anchors), *NAME_ANCHORS, PEM_ANCHOR,
                                   *(a for plugin, anchors in CORPUS if not isinstance(plugin, _RUN_GATED)
                                     for a in anchors))},
    key=lambda anchor: (-len(anchor), anchor))))
SHORT_TEXT = 512  # longer texts are screened anchor by anchor instead (Screen.present: faster there)
# The same anchors compiled for one sweep of the screen per text, and each rule's as keys of it; the
# run-gated plugins' anchors are looked for only where there is a run.
_ANCHORS = AnchorSet((*(a for rule in BUILTIN_RULES for a in rule.anchors), *NAME_ANCHORS, PEM_ANCHOR,
                      *(a for plugin, anchors in CORPUS if not isinstance(plugin, _RUN_GATED) for a in anchors)))
_RULE_KEYS = tuple((rule, AnchorSet.keys(rule.anchors)) for rule in BUILTIN_RULES)
_CORPUS_KEYS = tuple((plugin, anchors, AnchorSet.keys(anchors), isinstance(plugin, _RUN_GATED),
                      "ds-" + re.sub(r"[^a-z0-9]+", "-", plugin.secret_type.lower()).strip("-"))
                     for plugin, anchors in CORPUS)
_NAME_KEYS = AnchorSet.keys(NAME_ANCHORS)
# What may apply to a text holding no anchor of the sweep (most short texts: names, paths, messages): the
# rules and plugins without anchors, and the run-gated plugins (their anchors are not in the sweep).
_UNANCHORED_RULE_KEYS = tuple((rule, keys) for rule, keys in _RULE_KEYS if not keys)
_UNANCHORED_CORPUS_KEYS = tuple(entry for entry in _CORPUS_KEYS if entry[3] or not entry[2])
_PEM_KEY = key_of(PEM_ANCHOR)
KNOWN_TEXT = 256  # texts up to this length have their spans remembered...
KNOWN_ENTRIES = 8192  # ...this many of them (about 3 MB at most)


def _cuts_a_key(text: str, lowered: str) -> bool:
    """Whether text ends inside a private key: a BEGIN line followed by no END line (any case), or a
    PuTTY key file's first line followed by no MAC line."""
    putty = text.rfind(PUTTY_MARKER)
    if putty != -1 and "Private-MAC:" not in text[putty:]:
        return True
    if not text.isascii():
        lowered = text.lower()  # the mapping this check has always used (it may change the length)
    elif not Screen(text, lowered).holds("private key", True):
        return False  # "private key" must follow the last BEGIN: absent (most text), a few memchr scans settle it
    begin = lowered.rfind("-----begin")
    return begin != -1 and "private key" in lowered[begin:] and "-----end" not in lowered[begin:]


# What a detector's match may carry around the secret itself (its regex's delimiters), never replaced.
_VALUE_LEFT = " \t\r\n\f\v=:\"'"
_VALUE_RIGHT = " \t\r\n\f\v\"'"
_DETECTOR_ROUNDS = 8


def _detector_values(plugin: Any, text: str) -> set[str]:
    r"""Every secret a detect-secrets detector finds in text, trimmed of the delimiters its regex took.

    Some regexes take the delimiters around a value (Artifactory's `(?:\s|=|:|"|^)AKC...(?:\s|"|$)`):
    replacing those would swallow a line break or the `=` of an assignment. And their matches do not
    overlap, so in `a AKC1 AKC2` the first match takes the blank the second needs: each round blanks
    the values found and searches again, until a round finds nothing new.
    """
    found: set[str] = set()
    searched = text
    for _ in range(_DETECTOR_ROUNDS):
        values = {value.lstrip(_VALUE_LEFT).rstrip(_VALUE_RIGHT) or value
                  for value in plugin.analyze_string(searched)} - found
        if not values:
            break
        found |= values
        searched = blanked(searched, values)  # one pass for all of them (`occurrences`)
    return found


SCAN_REFUSED = "scan-refused"  # the kind of a value replaced because the final scan refused it


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

    def spans(self, text: str, lowered: str | None = None) -> list[Span]:
        """Every secret in text as non-overlapping value spans, by rule priority (`lowered`: lower_ascii(text)).

        A value overlapping one a rule of higher priority took keeps what lies outside it (a run for the
        entropy rules excepted: it spans keys and delimiters, and redact() judges what is left of it alone)."""
        if len(text) > KNOWN_TEXT:
            return self._spans(text, lowered)
        known = self._known.get(text)
        if known is None:
            known = tuple(self._spans(text))
            if len(self._known) >= KNOWN_ENTRIES:
                self._known.clear()
            self._known[text] = known
        return list(known)

    def _spans(self, text: str, lowered: str | None = None) -> list[Span]:
        if lowered is None:
            lowered = lower_ascii(text)
        chosen: list[Span] = []  # sorted, non-overlapping

        def take(start: int, end: int, kind: str) -> None:
            if end <= start or TOKEN.fullmatch(text, start, end):
                return
            index = bisect.bisect_left(chosen, (start, end, kind))
            if index > 0 and chosen[index - 1][1] > start:
                index -= 1
            if index == len(chosen) or chosen[index][0] >= end:
                chosen.insert(index, (start, end, kind))
                return
            if kind == "high-entropy":
                return  # a run is wider than a value (its key, its delimiters): redact() judges what is left alone
            # It overlaps spans a rule of higher priority took: those stay, and what of it lies outside them is
            # taken too (a value that begins or ends inside another would otherwise leave the rest in clear).
            cursor = start
            while index < len(chosen) and chosen[index][0] < end:
                if chosen[index][0] > cursor:
                    chosen.insert(index, (cursor, chosen[index][0], kind))
                    index += 1
                cursor = max(cursor, chosen[index][1])
                index += 1
            if cursor < end:
                chosen.insert(index, (cursor, end, kind))

        # Fast paths, each a necessary condition: a short text holding no anchor at all skips every
        # anchored rule in one regex search; a long one has each anchor looked for once, all in one
        # sweep (Screen.present), and each rule's regex runs only if one of its anchors is there.
        anchored = len(text) > SHORT_TEXT or _ANY_ANCHOR.search(lowered) is not None
        ascii_text = text.isascii()
        # One translation settles both entropy checks on most text: without a run of 20 of the scan's class
        # there is no candidate of the narrower class (24 long) either.
        runs = long_runs(text)
        candidates = candidate_spans(text) if runs is not None else []
        long_run = bool(candidates)  # also a necessary condition of the run-gated plugins on ASCII text
        # What the final scan takes for random: redacted whatever the rules below say.
        random_runs = random_spans(text, runs) if runs is not None else []
        if not (anchored or long_run or random_runs or self.extra_rules or not ascii_text):
            return chosen  # only anchored rules, and rules needing a long run, could have matched
        screen = Screen(text, lowered)
        present = screen.present(_ANCHORS) if anchored else frozenset()
        for rule, keys in _RULE_KEYS if present else _UNANCHORED_RULE_KEYS:
            if keys and keys.isdisjoint(present):
                continue
            self._apply(rule, text, take)
        for rule in self.extra_rules:
            if not rule.anchors or (anchored and screen.holds_any(rule.anchors)):
                self._apply(rule, text, take)
        if _PEM_KEY in present:
            for start, end in orphan_key_end_spans(text):
                take(start, end, "pem-private-key")
        for plugin, anchors, keys, gated, kind in _CORPUS_KEYS if present else _UNANCHORED_CORPUS_KEYS:
            if gated:  # a run first (on ASCII text), then its anchors (not in the sweep)
                if not (long_run or not ascii_text) or not screen.holds_any(anchors):
                    continue
            elif keys and keys.isdisjoint(present):
                continue
            # Every occurrence of every value, overlapping ones as one stretch (`AP6x` inside `AP6xy`, taken alone
            # first, left the longer one's tail), found in one pass: a search per value was quadratic.
            for start, end in covered(_detector_values(plugin, text), text):
                take(start, end, kind)
        if not _NAME_KEYS.isdisjoint(present):
            for start, end in assignment_spans(text, lowered, present):
                take(start, end, "secret-assignment")
        for start, end in random_runs:  # a run with dots or tildes, or padding: wider than the candidates below
            take(start, end, "high-entropy")
        for start, end in candidates:
            if looks_random(text[start:end]):
                take(start, end, "high-entropy")
        return chosen

    @staticmethod
    def _apply(rule: Rule, text: str, take: Callable[[int, int, str], None]) -> None:
        for match in rule.pattern.finditer(text):
            if rule.check is None or rule.check(match.group(rule.group)):
                take(*match.span(rule.group), rule.kind)

    def redact(self, text: str, where: str, lowered: str | None = None) -> str:
        """One pass: every rule's matches on the original text, non-overlapping by rule priority."""
        chosen = self.spans(text, lowered)
        if not chosen:
            return text
        redacted = self._replaced(text, chosen, where)
        # A span a rule of higher priority took out of a random run leaves the rest of it, which the final
        # scan judges alone (a token breaks a run, as its mask does there): redacted too if it looks random.
        redacted = self._replaced(redacted, [(start, end, "high-entropy") for start, end in random_spans(redacted)],
                                  where)
        # And so does the entropy rule here with what is left of its own candidates (its narrower class: after
        # a dotted word, `id.<random>=<stripe key>`, the scan takes the rest for a name, and it was kept).
        return self._replaced(redacted, [(start, end, "high-entropy") for start, end in candidate_spans(redacted)
                                         if looks_random(redacted[start:end])], where)

    def _replaced(self, text: str, spans: list[Span], where: str) -> str:
        """text with each span (sorted, disjoint) replaced by its kind's token, counted: one join, linear."""
        if not spans:
            return text
        pieces = []
        cursor = 0
        for start, end, kind in spans:
            pieces.append(text[cursor:start])
            pieces.append(self.token(kind, text[start:end]))
            self.counts[(where, kind)] += 1
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def refused(self, value: str, where: str) -> str:
        """A value the final scan still refuses as this redactor left it, replaced whole (see
        `evidence_collector.refusals`): counted as its own kind, so the report shows the disagreement."""
        self.counts[(where, SCAN_REFUSED)] += 1
        return self.token(SCAN_REFUSED, value)

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
        known = self._known  # a short text known to hold nothing is kept as it is: what redact() would do
        if isinstance(obj, dict):
            scrubbed: dict[str, Any] = {}
            for raw_key, value in obj.items():
                key = raw_key if known.get(raw_key) == () or not isinstance(raw_key, str) else \
                    self.redact(raw_key, where)
                if key == LAST_APPLIED:
                    scrubbed[key] = "[omitted: duplicate of this object]"
                elif isinstance(value, str) and isinstance(key, str) and is_secret_name(key):
                    scrubbed[key] = self.redact_env_value(key, value, where)
                elif key == "value" and isinstance(value, str) and isinstance(obj.get("name"), str):
                    scrubbed[key] = self.redact_env_value(obj["name"], value, where)
                elif isinstance(value, str):  # what scrub_object does with a string, one call fewer
                    scrubbed[key] = value if known.get(value) == () else self.redact(value, where)
                elif value is None or isinstance(value, (bool, int, float)):  # left as they are
                    scrubbed[key] = value
                elif isinstance(value, list) and isinstance(key, str) and is_secret_name(key):
                    scrubbed[key] = self._named_items(key, value, where)
                else:
                    scrubbed[key] = self.scrub_object(value, where)
            return scrubbed
        if isinstance(obj, list):
            out: list[Any] = []
            for index, item in enumerate(obj):
                if not isinstance(item, str):
                    out.append(self.scrub_object(item, where))
                    continue
                previous = obj[index - 1] if index else None
                if isinstance(previous, str) and _is_secret_flag(previous):
                    out.append(self.redact_env_value(previous.lstrip("-"), item, where))
                else:
                    out.append(item if known.get(item) == () else self.redact(item, where))
            return out
        if isinstance(obj, str):
            return self.redact(obj, where)
        return obj

    def _named_items(self, name: str, items: list[Any], where: str) -> list[Any]:
        """The items of a list under a secret name (`password: [...]`): each string a value of the name, as
        `password: ...`'s value is, in nested lists too; objects in it are scrubbed as objects."""
        return [self.redact_env_value(name, item, where) if isinstance(item, str) else
                self._named_items(name, item, where) if isinstance(item, list) else
                self.scrub_object(item, where) for item in items]

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
            lowered = lower_ascii(text)
            if len(text) < 1024 * 1024 and _cuts_a_key(text, lowered):
                held = text
                continue
            held = ""
            yield self.redact(text, where, lowered)
        if held:
            yield self.redact(held, where)

    def report(self) -> dict[str, object]:
        by_kind: Counter[str] = Counter()
        by_file: dict[str, dict[str, int]] = {}
        for (where, kind), count in sorted(self.counts.items()):
            by_kind[kind] += count
            by_file.setdefault(where, {})[kind] = count
        return {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())), "by_file": by_file}

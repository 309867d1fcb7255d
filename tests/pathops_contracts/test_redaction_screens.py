"""The redactor's and the scan's screens only skip work: each is a necessary condition of what it skips.

- `Screen.present` (all anchors of a text in one sweep, each ruled out by an absent character first)
  answers for every anchor as a substring search does, whatever was asked of the screen before.
- Every rule's and detector's anchors (lower-case ones in any case, others as written) occur in each
  of its hits, and the run-gated detectors' hits lie in a run the run screens find: on planted secrets,
  on the same secrets with the case of their letters flipped at random (a case-sensitive anchor must
  not miss what a case-insensitive regex still matches), and inside log lines.
- End to end: each of those secrets, inside a long clean log read in blocks, is redacted, and the scan
  finds it in the log as it was before redaction.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pathops_contracts import random_strings, redaction, secret_scan
from pathops_contracts.redaction import Redactor
from pathops_contracts.redaction_screen import AnchorSet, Screen, lower_ascii
from pathops_contracts.secret_shapes import _RUN_GATED, BUILTIN_RULES, CORPUS, has_candidate
from pathops_testbed.kube_api import SharedLog

B64 = "MIIEowIBAAKCAQEAx4Jk0Qm9Zp2Lr7Vt3Wn8Yb5Hc1Ds6Fe4Gg0Ii9Jj2Kk7Ll3Mm8Nn5Oo1Pp6Qq4Rr0Ss9Tt2Uu7Vv3Ww8X"
# A sample of every shape the built-in rules and the detect-secrets detectors look for.
SAMPLES = (
    "-----BEGIN RSA PRIVATE KEY-----\n" + B64[:64] + "\n" + B64[:20] + "\n-----END RSA PRIVATE KEY-----",
    B64[:64] + "\n-----END OPENSSH PRIVATE KEY-----",
    "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 1\n" + B64[:40] + "\nPrivate-MAC: 0a1b2c3d",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AKIAIOSFODNN7EXAMPLQ", "ASIAY34FZKBOKMUTVV7A", "A3TXIOSFODNN7EXAMPLQ",
    "aws_secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
    "glpat-aB3dE5fG7hJ9kL1mN3pQ5r", "GR1348941aB3dE5fG7hJ9kL1mN3pQ5r", "glrt-aB3dE5fG7hJ9kL1mN3pQ5r",
    "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", "github_pat_11AB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9f",
    "xoxb-1234567890-0987654321-aB3dE5fG7hJ9kL1mN3pQ5r",
    "https://hooks.slack.com/services/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",
    "sk_live_aB3dE5fG7hJ9kL1mN3pQ5rS7", "rk_test_aB3dE5fG7hJ9kL1mN3pQ5r",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=" + B64[:86] + "==;EndpointSuffix=core",
    "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=" + B64[:43] + "=",
    "https://shop.blob.core.windows.net/c?sv=2020-08-04&sig=aB3dE5fG7hJ9kL1mN3pQ5r%3D",
    "postgres://shop:Zq7vLp2mXw9K@db.shop:5432/shop",
    "Authorization: Basic dXNlcjpacTd2THAybVh3OUs=",
    "Authorization: Bearer aB3dE5fG7hJ9kL1mN3pQ5rS7",
    "db_password=Zq7vLp2mXw9K", '{"session_token": "Zq7vLp2mXw9K"}', "--client-secret Zq7vLp2mXw9K",
    "X-Auth-Token: Zq7vLp2mXw9K", "cookie: sessionid=Zq7vLp2mXw9K",
    "0123456789abcdef0123456789abcdef-us12",
    "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "//registry.npmjs.org/:_authToken=npm_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "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",
    "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWFiY2QtYWJjZC1hYmNkLWFiY2RlZmdoaWprbAACJXsicGVybWlzc2lvbnMiOiAidXNlciJ9",
    "SG.aB3dE5fG7hJ9kL1mN3pQ5r.aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9f",
    "sq0csp-aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9f", "sq0atp-aB3dE5fG7hJ9kL1mN3pQ5r",
    "AC0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef",
    "AKCp8aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9r", "artifactory: \"AP6xB3dE5fG7h\" set",
    'clpw = "abcdefghijklmnopqrstuvwx"',
    'cloudant_password = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3"',
    'ibm_cloud_iam_key = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG"',
    'ibm_cos_hmac_secret_access_key = "0123456789abcdef0123456789abcdef0123456789abcdef"',
    'softlayer_api_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"',
    "https://shop:Zq7vLp2mXw9K@git.shop.example/repo.git",
)
# Found by the scan's broader keyword detectors only: the redactor leaves it, the scan fails the run closed.
SCAN_ONLY = {'clpw = "abcdefghijklmnopqrstuvwx"'}
LINE_SHAPES = ("{}", "2026-12-01T15:52:42.628387Z INFO shop request {} done", '{{"msg": "{}"}}', "value={}\n")


def case_flips(text: str, rng: random.Random, count: int = 12) -> Iterator[str]:
    """text, then copies of it with the case of some of its letters flipped."""
    yield text
    letters = [index for index, char in enumerate(text) if char.isalpha()]
    for _ in range(count):
        chars = list(text)
        for index in rng.sample(letters, max(1, len(letters) // rng.randint(1, 6))):
            chars[index] = chars[index].swapcase()
        yield "".join(chars)


def variants() -> Iterator[str]:
    rng = random.Random(20)
    for sample in SAMPLES:
        for flipped in case_flips(sample, rng):
            for shape in LINE_SHAPES:
                yield shape.format(flipped)


def holds(text: str, anchors: tuple[str, ...]) -> bool:
    """The screens' convention: one of the anchors occurs, a lower-case one in any case, others as written."""
    return any(anchor in (lower_ascii(text) if anchor.islower() else text) for anchor in anchors)


def test_the_one_sweep_screen_answers_for_every_anchor_as_a_substring_search_does() -> None:
    rng = random.Random(7)
    sets = {"redactor": redaction._ANCHORS, "scan": secret_scan._ANCHORS}
    anchors = sorted({key[0] for anchor_set in sets.values() for key in anchor_set.anchors})
    alphabets = ["".join(anchors) + " \n", "".join(anchors).swapcase() + "\u00e9\u0130\u212a ", "abcKEYkey_=-. \n"]
    for round_ in range(600):
        alphabet = alphabets[round_ % len(alphabets)]
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        if round_ % 3 == 0:  # with whole anchors in it, in either case
            text += rng.choice(anchors) + text + rng.choice(anchors).upper()
        lowered = lower_ascii(text)
        for name, anchor_set in sets.items():
            screen = Screen(text, lowered)
            if round_ % 2:  # answers already cached by holds() must agree too
                for anchor in rng.sample(anchors, 5):
                    screen.holds(anchor, rng.random() < 0.5)
            expected = {key for key in anchor_set.anchors if key[0] in (lowered if key[1] else text)}
            assert screen.present(anchor_set) == expected, (name, text)
            for anchor, folded in anchor_set.anchors:
                assert screen.holds(anchor, folded) is ((anchor, folded) in expected), (anchor, text)


def test_anchor_keys_follow_the_convention_of_the_anchor_lists() -> None:
    assert AnchorSet.keys(("key", "AKIA", "://", "_authToken")) == {
        ("key", True), ("AKIA", False), ("://", False), ("_authToken", False)}


def test_every_builtin_rule_hit_holds_one_of_its_anchors_in_any_case_mix() -> None:
    fired = set()
    for text in variants():
        for rule in BUILTIN_RULES:
            for match in rule.pattern.finditer(text):
                fired.add(rule.pattern.pattern)
                assert holds(match.group(), rule.anchors), (rule.kind, text)
                assert rule.may_match(text, lower_ascii(text))
    assert fired == {rule.pattern.pattern for rule in BUILTIN_RULES}  # every rule was put to the test


def test_every_redactor_detector_hit_holds_its_anchors_or_lies_in_a_long_run() -> None:
    fired = set()
    for text in variants():
        for plugin, anchors in CORPUS:
            if not set(plugin.analyze_string(text)):
                continue
            fired.add(type(plugin).__name__)
            assert not anchors or holds(text, anchors), (type(plugin).__name__, text)
            if isinstance(plugin, _RUN_GATED) and text.isascii():
                assert has_candidate(text), (type(plugin).__name__, text)
    assert fired == {type(plugin).__name__ for plugin, _ in CORPUS}


def test_every_scan_detector_hit_holds_its_anchors_or_lies_in_a_long_run() -> None:
    fired = set()
    for text in variants():
        for plugin in secret_scan.PLUGINS:
            name = type(plugin).__name__
            if not set(plugin.analyze_string(text)):
                continue
            fired.add(name)
            anchors = secret_scan.PLUGIN_ANCHORS.get(name, ())
            assert not anchors or holds(text, anchors), (name, text)
            gate = secret_scan._RUN_GATED.get(name)
            if gate and text.isascii():
                assert b"a" * gate in secret_scan._runs(text), (name, text)
    assert fired == {type(plugin).__name__ for plugin in secret_scan.PLUGINS}


def clean_log() -> str:
    return b"".join(SharedLog(48 * 1024, datetime.now(UTC)).render(None, None, None, True)).decode()


@pytest.mark.parametrize("sample", [sample for sample in SAMPLES if sample not in SCAN_ONLY])
def test_a_secret_in_a_long_log_read_in_blocks_is_redacted_and_the_scan_finds_it_unredacted(sample: str) -> None:
    lines = clean_log().splitlines(keepends=True)
    middle = len(lines) // 2
    text = "".join(lines[:middle]) + sample + "\n" + "".join(lines[middle:])
    blocks = ["".join(lines[:middle]), sample + "\n", "".join(lines[middle:])]  # newline-terminated blocks
    alone = Redactor(key=b"k" * 32).redact(sample + "\n", "f")
    redacted = "".join(Redactor(key=b"k" * 32).redact_blocks(blocks, "f"))
    assert alone != sample + "\n"
    assert redacted == "".join(lines[:middle]) + alone + "".join(lines[middle:])
    assert secret_scan.scan_text(text), sample
    assert not secret_scan.scan_text(redacted), sample


@pytest.mark.parametrize("before", ["2026-12-01T15:52:42Z INFO start\n", "2026-12-01T15:52:42Z caf\u00e9 \u212a\n"])
def test_a_private_key_cut_by_block_boundaries_is_held_and_redacted_whole(before: str) -> None:
    """The hold's screen ("private key" somewhere, else no BEGIN to look back for) keeps ASCII and other text alike."""
    body = [B64[:64] + "\n", B64[10:74] + "\n", B64[:30] + "\n"]
    blocks = [before + "-----BEGIN RSA PRIVATE KEY-----\n", body[0], body[1],
              body[2] + "-----END RSA PRIVATE KEY-----\n", "after\n"]
    out = "".join(Redactor(key=b"k" * 32).redact_blocks(blocks, "f"))
    assert out.startswith(before + "[REDACTED:pem-private-key:") and out.endswith("]\nafter\n")
    assert out.count("[REDACTED:") == 1 and B64[:30] not in out
    assert not secret_scan.scan_text(out)


def test_the_scan_reads_entropy_candidates_in_the_runs_it_found_exactly_as_in_the_whole_text() -> None:
    """Candidates sought only inside the runs of 20 the translation shows are every candidate of the text."""
    rng = random.Random(3)
    pieces = ["aZ9", "+/=", "_.~-", " ", "\n", ":", '"', "[REDACTED:jwt:0a1b2c]", "Q" * 21, "x7Y" * 9]
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for masked in (secret_scan._mask(text), text):
            everywhere = [match.span() for match in random_strings._RANDOM.finditer(masked)]
            in_runs = list(secret_scan._candidates(masked, secret_scan._runs(text), True, masked == text))
            assert in_runs == everywhere, text


def reference_random(candidate: str) -> bool:
    """The entropy check as it was written before its shortcuts."""
    import math
    import re
    from collections import Counter

    core = candidate.strip("=.-_~")
    if len(core) < 24 or re.fullmatch(r"[0-9a-fA-F.-]+", core) or ("." in core and not re.search(r"[+/=]", core)):
        return False
    if not all(re.search(pattern, core) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]")):
        return False
    counts = Counter(core)
    return -sum(n / len(core) * math.log2(n / len(core)) for n in counts.values()) >= 4.2


def test_the_entropy_check_answers_as_before_its_shortcuts() -> None:
    rng = random.Random(5)
    alphabets = ["abcdefghij0123456789", "ABCDEFGHIJ0123456789-.", "aZ9+/=_.~-", "qwertyQWERTY0123456789/+"]
    for _ in range(3000):
        alphabet = rng.choice(alphabets)
        candidate = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))
        assert secret_scan._random(candidate) is reference_random(candidate), candidate


@pytest.mark.parametrize("alphabet", ["aZ9+/=_-.~ \n", "aZ9-\u00e9\u0661 ", "aZ9_.\ud800\U0001f600:", "Zq7/+ :"])
def test_the_redactor_finds_entropy_candidates_in_the_runs_exactly_as_the_regex_does(alphabet: str) -> None:
    from pathops_contracts.secret_shapes import _ENTROPY_CANDIDATE, candidate_spans

    rng = random.Random(len(alphabet))
    for _ in range(400):
        text = "".join(rng.choice(alphabet) * rng.choice((1, 1, 5, 13)) for _ in range(rng.randint(0, 30)))
        assert candidate_spans(text) == [match.span() for match in _ENTROPY_CANDIDATE.finditer(text)], text


def reference_pair_offsets(text: str, base: int = 0, depth: int = 0) -> Iterator[int]:
    """The scan's pair search as it was written before its shortcuts (every value searched again)."""
    for pattern in (secret_scan._PAIR, secret_scan._FLAG):
        for pair in pattern.finditer(text):
            name, value = pair.group("name"), pair.group("value")
            if secret_scan._judge_name(name) and not secret_scan._clean(value):
                yield base + pair.start("value")
            elif depth < 3 and len(value) > 4:
                yield from reference_pair_offsets(value, base + pair.start("value"), depth + 1)


def test_the_scan_finds_the_pairs_nested_in_values_as_before_its_shortcuts() -> None:
    """Values are searched again only when they hold ':' or '=': what a pair needs (a value holds no blank)."""
    rng = random.Random(11)
    pieces = ["pwd", "=", ":", "token", "config", "-", "--db-password", " ", "\t", "Zq7vLp2mX", '"', "=>", ":=",
              "x" * 30 + "_name", "[REDACTED:jwt:0a1b2c]", "true", "api_key", "url", "/", "@"]
    for _ in range(3000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        assert list(secret_scan._pair_offsets(line)) == list(reference_pair_offsets(line)), line


def reference_looks_random(value: str) -> bool:
    """The redactor's entropy check as it was written before its shortcuts."""
    import re

    from pathops_contracts.secret_shapes import ENTROPY_MIN_BITS, ENTROPY_MIN_LENGTH, shannon_entropy

    if len(value) < ENTROPY_MIN_LENGTH or re.fullmatch(r"[0-9a-fA-F-]+", value):
        return False
    if not (re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"[0-9]", value)):
        return False
    return shannon_entropy(value) >= ENTROPY_MIN_BITS


def test_the_redactors_entropy_check_answers_as_before_its_shortcuts() -> None:
    from pathops_contracts.secret_shapes import looks_random

    rng = random.Random(6)
    alphabets = ["abcdef0123456789-", "ABCDEFGHIJ0123456789_", "aZ9+/=_-", "qwertyQWERTY0123456789/+", "abcXYZ"]
    found = 0
    for _ in range(3000):
        value = "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(20, 60)))
        assert looks_random(value) is reference_looks_random(value), value
        found += looks_random(value)
    assert found > 100

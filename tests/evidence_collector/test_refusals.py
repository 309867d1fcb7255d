"""What the final scan refuses after redaction is replaced, line for line and value for value."""

from __future__ import annotations

import json
import tarfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evidence_collector import redaction
from evidence_collector.collector import Collected
from evidence_collector.redaction import Redactor, leaks_in, leaks_in_lines
from evidence_collector.refusals import jsonl_without_refused, without_refused_lines, without_refused_values
from evidence_collector.snapshot import SnapshotIdentity, assemble
from evidence_collector.staging import Staging, jsonl_lines, readable_json
from evidence_collector.window import resolve_window
from pathops_contracts.secret_scan import scan_text

REDACTOR = Redactor(key=b"k" * 32)


def replace(value: str) -> str:
    return REDACTOR.refused(value, "test")


# Each refused by the scan as the redactor leaves it (scrub_object changes none of them).
REFUSED_DOCUMENTS: list[dict[str, Any]] = [
    {"metadata": {"name": "web-0", "annotations": {"example.com/auth_backend": "ldap", "team": "payments"}}},
    {"spec": {"password": 12345678901, "replicas": 3}},
    {"spec": {"token": [12345678901], "ports": [80, 443]}},
    {"data": {"app.conf": "key ids:\nAbCdEfGhIjKlMnOpQrStU9w\n", "flags": "checkout=on"}},
    {"labels": {"token_store": "vault"}, "name": "cache"},
]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(value, dict):
        return {p: v for key, item in value.items() for p, v in _leaves(item, (*path, key)).items()}
    if isinstance(value, list):
        return {p: v for index, item in enumerate(value) for p, v in _leaves(item, (*path, index)).items()}
    return {path: value}


@pytest.mark.parametrize("document", REFUSED_DOCUMENTS)
def test_only_the_refused_value_of_a_document_is_replaced(document: dict[str, Any]) -> None:
    scrubbed = REDACTOR.scrub_object(document, "test")
    assert scan_text(json.dumps(scrubbed)), "the premise: the scan refuses what the redactor left"
    fixed = without_refused_values(scrubbed, replace)
    assert not scan_text(json.dumps(fixed)) and not scan_text(json.dumps(fixed, indent=2))
    before, after = _leaves(scrubbed), _leaves(fixed)
    changed = [path for path in before if before[path] != after.get(path, "(gone)")]
    assert len(changed) == 1, changed  # one value, the rest as it was
    assert str(after.get(changed[0], "")).startswith("[REDACTED:scan-refused:") or \
        any(str(value).startswith("[REDACTED:scan-refused:") for value in after.values())


def test_a_document_the_scan_passes_is_returned_as_it_is() -> None:
    document = {"a": {"b": ["c", 1, None]}}
    assert without_refused_values(document, replace) is document


TEXT = ("Booting payments api\nlogin with password='hunter2\nGET /health 200\n"
        "exec app --db-password 'hunter2'\nfatal: configuration incomplete\n")


def test_refused_lines_are_replaced_line_for_line() -> None:
    data = TEXT.encode()
    assert leaks_in(data)
    fixed = without_refused_lines(data, replace).decode()
    assert not leaks_in(fixed.encode()) and "hunter2" not in fixed
    kept = TEXT.split("\n")
    assert len(fixed.split("\n")) == len(kept)
    for before, after in zip(kept, fixed.split("\n"), strict=True):
        assert after == before or (after.startswith("[REDACTED:scan-refused:") and "hunter2" in before)


def test_what_replacing_cannot_clear_is_left_refused_for_the_run_to_refuse() -> None:
    data = TEXT.encode()
    assert leaks_in(without_refused_lines(data, lambda line: line)) != []


def test_json_lines_stay_objects_line_for_line() -> None:
    objects = [REDACTOR.scrub_object(document, "test") for document in REFUSED_DOCUMENTS] + [{"clean": True}]
    data = "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects).encode()
    assert leaks_in(data)
    fixed = jsonl_without_refused(data, replace)
    assert not leaks_in(fixed)
    lines = fixed.decode().split("\n")
    assert len(lines) == len(objects) + 1 and lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]][-1] == {"clean": True}


def test_staging_writes_a_refused_json_document_valid_and_clean(tmp_path: Any) -> None:
    staging = Staging(tmp_path / "snapshot", Redactor(key=b"k" * 32), 10_000_000)
    staging.root.mkdir()
    try:
        staging.write_json("objects/configmaps.json", REFUSED_DOCUMENTS[3])
        data = staging.read("objects/configmaps.json")
        assert json.loads(data)["data"]["flags"] == "checkout=on"
        assert not leaks_in(data)
        assert "objects/configmaps.json" in staging.scanned_packed()  # bundled as scanned, not refused
        assert staging.redactor.report()["by_kind"] == {"scan-refused": 1}
    finally:
        staging.close()


def test_every_line_holding_a_refused_detector_value_is_pointed_at_and_replaced_in_one_round() -> None:
    """A detector's value is a hit on each line that holds it, not on the first alone: replacing (a few
    rounds) clears any number of copies, and no copy is left where the scan no longer sees its context."""
    value = "tenant-0001-region-eu-west-1-shard-000000042"
    text = f"shard {value} ready\n" + f"cache token {value}\n" * 5 + "done\n"
    assert [hit.line for hit in scan_text(text)] == [1, 2, 3, 4, 5, 6]
    fixed = without_refused_lines(text.encode(), replace).decode()
    assert value not in fixed and not leaks_in(fixed.encode()) and fixed.endswith("\ndone\n")
    assert len(fixed.split("\n")) == len(text.split("\n"))


def _pods_with_short_refused_values(count: int) -> list[dict[str, Any]]:
    # `"x0/auth_backend": "ab"`: the scan refuses each, and each token is 26 bytes longer than "ab".
    return [{"metadata": {"name": f"web-{index}", "annotations": {f"x{n}/auth_backend": "ab" for n in range(20)}}}
            for index in range(count)]


@pytest.mark.parametrize("room", [0, 10**6])
def test_replacing_values_never_takes_a_file_past_the_budget(tmp_path: Path, room: int) -> None:
    """Tokens are longer than short values: pods.jsonl doubled after the budget was spent. What does not fit
    replaces each refused line whole instead (still one line for one), said in a gap."""
    redactor = Redactor(key=b"k" * 32)
    pods = _pods_with_short_refused_values(10)
    size = len(jsonl_lines(redactor, "objects/pods.jsonl", pods))
    budget = size + 4096 + room
    staging = Staging(tmp_path / "stage", redactor, budget)
    staging.root.mkdir()
    try:
        assert staging.write_jsonl("objects/pods.jsonl", pods) == 10
        assert staging.write_text("logs/web-0/api.log", "served product 1\n" * 256)  # the rest of the budget
        manifest, _, _ = assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                                  resolve_window("30m", datetime.now(UTC)), Collected([], None, None, None, None),
                                  redactor, tmp_path / "bundle.tar.gz")
    finally:
        staging.close()
    sizes = {entry["path"]: entry["size"] for entry in manifest["files"]}
    assert sizes["objects/pods.jsonl"] + sizes["logs/web-0/api.log"] <= budget
    with tarfile.open(tmp_path / "bundle.tar.gz") as bundle:
        member = bundle.extractfile("objects/pods.jsonl")
        assert member is not None
        lines = member.read().decode().splitlines()
    assert len(lines) == 10 and not leaks_in("\n".join(lines).encode())
    values = [json.loads(line) for line in lines]
    if room:  # the tokens fit: every line is still the pod it was, its refused values replaced
        assert [value["metadata"]["name"] for value in values] == [f"web-{index}" for index in range(10)]
        assert manifest["redaction"]["scan-refused"] == 200
    else:
        assert all(str(value).startswith("[REDACTED:scan-refused:") for value in values)
        assert manifest["redaction"]["scan-refused"] == 10
        assert any(gap["what"] == "objects/pods.jsonl" and gap["reason"] == "truncated" for gap in manifest["gaps"])


def test_a_value_refused_only_as_its_keys_are_sorted_is_found_and_replaced() -> None:
    """Documents are written with their keys sorted; values were judged in the order they came: a selector
    the scan refuses only sorted (`"aws": "x", "key": "y", "z": <40 digits>`, AWS's detector) was not found."""
    selector = {"z": "0" * 40, "key": "y", "aws": "x"}
    document = {"findings": [{"kind": "service-no-pods", "facts": {"selector": selector, "service": "legacy"}}]}
    assert scan_text(readable_json(document)) and not scan_text(json.dumps(document)), "the premise"
    fixed = without_refused_values(document, replace)
    assert not scan_text(readable_json(fixed)) and not scan_text(json.dumps(fixed, sort_keys=True))
    assert fixed["findings"][0]["facts"]["service"] == "legacy" and fixed["findings"][0]["kind"] == "service-no-pods"


def test_a_line_of_laid_out_json_is_replaced_as_a_value_and_the_document_stays_valid() -> None:
    """What replacing values does not clear is replaced a line at a time; in a JSON document, the line's
    value, its name and comma kept: a bare token there made findings.json invalid JSON."""
    text = readable_json({"a": "glpat-abcdefghijklmnopqrstuvwxyz", "b": ["x", "glpat-abcdefghijklmnopqrstuvwxyz"],
                          "c": {"d": 1}}) + "\n"
    assert leaks_in(text.encode())
    fixed = without_refused_lines(text.encode(), replace, json_values=True)
    assert not leaks_in(fixed) and len(fixed.split(b"\n")) == len(text.split("\n"))
    document = json.loads(fixed)
    assert document["a"].startswith("[REDACTED:scan-refused:") and document["b"][0] == "x"
    assert document["b"][1].startswith("[REDACTED:scan-refused:") and document["c"] == {"d": 1}


def test_a_gap_detail_only_the_final_scan_refuses_is_replaced_in_the_manifest(tmp_path: Path) -> None:
    """Gap details quote API error texts (untrusted); one the redactor leaves and the scan refuses refused
    the whole snapshot at the manifest's scan. The detail is replaced, the gap kept."""
    redactor = Redactor(key=b"k" * 32)
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    try:
        staging.gap("logs/web-0/api.log", "error", "upstream said: using auth_backend=ldap")
        manifest, _, _ = assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                                  resolve_window("30m", datetime.now(UTC)), Collected([], None, None, None, None),
                                  redactor, tmp_path / "bundle.tar.gz")
    finally:
        staging.close()
    (gap,) = manifest["gaps"]
    assert gap["what"] == "logs/web-0/api.log" and gap["reason"] == "error"
    assert gap["detail"].startswith("[REDACTED:scan-refused:") and manifest["redaction"] == {"scan-refused": 1}


def test_past_the_value_pass_bytes_refused_lines_go_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking into values costs seconds a MB: past VALUE_PASS_BYTES of refused lines the rest are replaced
    whole (still line for line), so objects made to be refused cannot hold the run."""
    from evidence_collector import refusals

    monkeypatch.setattr(refusals, "VALUE_PASS_BYTES", 2_000)
    pods = [{"metadata": {"name": f"web-{i}", "annotations": {"example.com/auth_backend": "ldap"}}, "pad": "x" * 300}
            for i in range(20)]
    data = "".join(json.dumps(p, sort_keys=True) + "\n" for p in pods).encode()
    fixed = jsonl_without_refused(data, replace)
    assert not leaks_in(fixed)
    lines = [json.loads(line) for line in fixed.decode().splitlines()]
    assert len(lines) == 20
    objects = [line for line in lines if isinstance(line, dict)]
    assert 1 <= len(objects) < 20 and lines[: len(objects)] == objects  # the first ones kept as objects
    assert all(isinstance(line, str) and line.startswith("[REDACTED:scan-refused:") for line in lines[len(objects):])


def test_a_document_with_keys_of_mixed_types_is_judged_too() -> None:
    document = {1: "one", "auth_backend": "ldap", "team": "payments"}
    fixed = without_refused_values(document, replace)
    assert fixed[1] == "one" and fixed["team"] == "payments"
    assert fixed["auth_backend"].startswith("[REDACTED:scan-refused:")


def test_json_lines_are_scanned_a_megabyte_at_a_time_with_the_file_s_line_numbers() -> None:
    # 12 MB of pods.jsonl made the final scan hold five copies of it (60 MB); now a megabyte of lines at a
    # time. Secrets on the lines around each chunk's end and in a line longer than a chunk are all found.
    filler = json.dumps({"metadata": {"name": "web-0"}, "note": "x" * 300}) + "\n"
    lines = [filler] * 12_000  # ~3.7 MB: four chunks
    secret = json.dumps({"args": ["--db-url=postgres://app:Zq8rT5vW1xY3-hunter2@db:5432/shop"]}) + "\n"
    long_line = json.dumps({"blob": "y" * 1_500_000, "token": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"}) + "\n"
    for index in (0, 3399, 3400, 3401, 6800, 11_999):
        lines[index] = secret
    lines[9000] = long_line
    data = "".join(lines).encode()
    whole = [(hit.kind, hit.line) for hit in leaks_in(data)]
    chunked = [(hit.kind, hit.line) for hit in leaks_in_lines(data)]
    assert sorted(chunked) == sorted(whole)
    assert {line for _, line in chunked} >= {1, 3400, 3401, 3402, 6801, 9001, 12_000}


def test_json_lines_with_a_refused_value_are_fixed_a_megabyte_of_lines_at_a_time() -> None:
    # The final scan reads a 12 MB pods.jsonl a megabyte at a time; one value it refuses (an annotation anyone
    # who may create a pod writes) made the value pass scan the whole file at once, up to three rounds: 86 MB.
    filler = json.dumps({"metadata": {"name": "web-0", "annotations": {"note": "x" * 3000}}}) + "\n"
    lines = [filler] * 4000
    lines[2000] = json.dumps({"args": ["--db-url=postgres://app:Zq8rT5vW1xY3-hunter2@db:5432/shop"]}) + "\n"
    data = "".join(lines).encode()
    tracemalloc.start()
    try:
        fixed = jsonl_without_refused(data, lambda value: "[REDACTED:scan-refused:abcdef]")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(data), f"{peak / 1e6:.0f} MB for {len(data) / 1e6:.0f} MB of lines"
    assert not leaks_in(fixed)
    out = fixed.decode().splitlines()
    assert len(out) == 4000 and out[1999] == filler.strip() and out[2001] == filler.strip()
    assert "hunter2" not in out[2000] and json.loads(out[2000])["args"][0].startswith("[REDACTED:scan-refused:")


def test_a_value_found_in_one_megabyte_of_lines_is_found_in_the_others_too() -> None:
    # Scanned whole, every occurrence of a value a detector finds is a hit: the bare copy of a Cloudant
    # password (hex, no name near it) a megabyte further down was one. Scanned a megabyte at a time, it was
    # not, and once the refused lines were fixed a megabyte at a time too, the copy left in the snapshot.
    password = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"
    lines = [json.dumps({"note": "x" * 300}) + "\n"] * 8000
    lines[10] = json.dumps({"metadata": {"annotations": {"note": f"cloudant_password: {password}"}}}) + "\n"
    lines[7000] = json.dumps({"metadata": {"annotations": {"checksum": password}}}) + "\n"  # another megabyte
    data = "".join(lines).encode()
    assert [(hit.kind, hit.line) for hit in leaks_in_lines(data)] == [(hit.kind, hit.line) for hit in leaks_in(data)]
    assert {hit.line for hit in leaks_in_lines(data)} == {11, 7001}
    fixed = jsonl_without_refused(data, lambda value: "[REDACTED:scan-refused:abcdef]")
    assert password.encode() not in fixed and len(fixed.splitlines()) == 8000


def test_values_each_inside_the_next_are_found_chunk_by_chunk_as_when_scanned_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # `://u:a@h`, `://u:aa@h`...: each a Basic Auth password the final scan refuses, each a suffix of the next.
    # Of the values ending at an offset only the longest is reported (`Finder`); the others' lines are still
    # hits, in every chunk, as when the file is scanned whole. 4 KB chunks: values cross their ends.
    monkeypatch.setattr(redaction, "SCAN_CHUNK", 4096)
    data = "".join(json.dumps({"url": f"://u:{'a' * count}@h"}) + "\n" for count in range(1, 150)).encode()
    hits = leaks_in_lines(data)
    assert hits == leaks_in(data)
    assert {hit.line for hit in hits if hit.kind == "detect-secrets:Basic Auth Credentials"} == set(range(1, 150))

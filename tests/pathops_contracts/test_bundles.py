"""Bundles: reproducible to the byte when written, refused when crafted."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from pathops_contracts.bundles import (
    ExtractionLimits,
    extract_bundle,
    read_json_document,
    read_member,
    read_members,
    write_bundle,
)
from pathops_contracts.errors import ContractViolation
from tests.bundle_bombs import HEADER_BOMBS, GzipTar, deep_json, pax_header_bomb, small_file, tar_header


def test_same_content_gives_the_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "b.log").write_text("line\n")
    first = write_bundle(tmp_path / "1.tar.gz", {"manifest.json": b"{}", "logs/b.log": tmp_path / "b.log"})
    (tmp_path / "b.log").touch()  # a newer mtime on disk must not change the bundle
    second = write_bundle(tmp_path / "2.tar.gz", {"logs/b.log": tmp_path / "b.log", "manifest.json": b"{}"})
    assert first == second
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()


def test_round_trip(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b.tar.gz", {"metadata.json": b'{"a": 1}', "patch.mbox": b"From x\n"})
    assert read_member(tmp_path / "b.tar.gz", "metadata.json") == b'{"a": 1}'
    names = extract_bundle(tmp_path / "b.tar.gz", tmp_path / "out")
    assert sorted(names) == ["metadata.json", "patch.mbox"]
    assert (tmp_path / "out" / "patch.mbox").read_bytes() == b"From x\n"


def test_read_members_reads_several_in_one_pass_and_leaves_out_what_is_missing(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b.tar.gz", {"findings.json": b"[]", "logs/p/web.log": b"GET /healthz 404\n" * 1000,
                                         "manifest.json": b"{}"})
    found = read_members(tmp_path / "b.tar.gz", ["manifest.json", "findings.json", "objects/rollout-diffs.jsonl"])
    assert found == {"manifest.json": b"{}", "findings.json": b"[]"}
    with pytest.raises(ContractViolation, match="not a regular file under 100 bytes"):
        read_members(tmp_path / "b.tar.gz", ["logs/p/web.log"], max_bytes=100)


def test_read_members_refuses_a_pax_bomb_before_reading_it(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation, match="extended header of 1073741824 bytes"):
        read_members(pax_header_bomb(tmp_path / "bomb.tar.gz"), ["manifest.json", "findings.json"])


def _crafted(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            data = b"owned\n" if member.isfile() else None
            if data is not None:
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "member",
    [
        _file("../../etc/passwd"),
        _file("/etc/passwd"),
        _file("ok/../../escape"),
        _link("metadata.json", "/etc/passwd"),
        _link("hard", "/etc/passwd", tarfile.LNKTYPE),
        _link("dev", "", tarfile.CHRTYPE),
        _link("fifo", "", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "inner-dotdot", "symlink", "hardlink", "device", "fifo"],
)
def test_crafted_members_are_refused_before_anything_is_written(tmp_path: Path, member: tarfile.TarInfo) -> None:
    bundle = _crafted(tmp_path / "evil.tar.gz", _file("metadata.json"), member)
    scratch = tmp_path / "scratch"
    with pytest.raises(ContractViolation):
        extract_bundle(bundle, scratch)
    assert not scratch.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz"]


def test_caps_on_files_and_bytes(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b.tar.gz", {f"f{i}": b"x" * 100 for i in range(5)})
    with pytest.raises(ContractViolation, match="more than 4 files"):
        extract_bundle(tmp_path / "b.tar.gz", tmp_path / "s1", ExtractionLimits(max_files=4))
    with pytest.raises(ContractViolation, match="more than 300 bytes"):
        extract_bundle(tmp_path / "b.tar.gz", tmp_path / "s2", ExtractionLimits(max_bytes=300))


def test_garbage_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "g.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ContractViolation, match=r"not a readable tar\.gz"):
        extract_bundle(tmp_path / "g.tar.gz", tmp_path / "s")


# --- Bombs: refused from their headers, before the bytes they claim are read --------------------------------

PATCH_LIMITS = ExtractionLimits(max_bytes=32 * 1024 * 1024, max_files=16, max_directories=16, max_depth=4)


@pytest.mark.parametrize("bomb", sorted(HEADER_BOMBS))
def test_bombs_are_refused_in_bounded_memory_and_leave_nothing(tmp_path: Path, bomb: str) -> None:
    make, words = HEADER_BOMBS[bomb]
    bundle = make(tmp_path / "bomb.tar.gz")
    tracemalloc.start()
    try:
        with pytest.raises(ContractViolation, match=re.escape(words)):
            extract_bundle(bundle, tmp_path / "scratch", PATCH_LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{bomb}: peak Python memory {peak} bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["bomb.tar.gz"]


def test_read_member_refuses_a_pax_bomb_before_reading_it(tmp_path: Path) -> None:
    bundle = pax_header_bomb(tmp_path / "bomb.tar.gz")
    tracemalloc.start()
    try:
        with pytest.raises(ContractViolation, match="extended header of 1073741824 bytes"):
            read_member(bundle, "metadata.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_a_name_used_twice_is_refused_in_either_order(tmp_path: Path) -> None:
    directory_first = _crafted(tmp_path / "d.tar.gz", _file("patch.mbox/x"), _file("patch.mbox"))
    with pytest.raises(ContractViolation, match="both as a file and as a directory"):
        extract_bundle(directory_first, tmp_path / "s1")
    explicit_directory = _crafted(tmp_path / "e.tar.gz", _file("logs"), _directory("logs"))
    with pytest.raises(ContractViolation, match="both as a file and as a directory"):
        extract_bundle(explicit_directory, tmp_path / "s2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tar.gz", "e.tar.gz"]


def _directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


@pytest.mark.parametrize(("kind", "words"), [(b"g", "global PAX header"), (b"K", "GNU long link"),
                                             (b"S", "GNU sparse"), (b"V", "unsupported tar type")])
def test_header_types_outside_the_contract_are_refused(tmp_path: Path, kind: bytes, words: str) -> None:
    tar = GzipTar(tmp_path / "b.tar.gz")
    tar.write(tar_header("metadata.json", kind, 0))
    with pytest.raises(ContractViolation, match=words):
        extract_bundle(tar.close(), tmp_path / "s")


def test_damaged_headers_are_refused(tmp_path: Path) -> None:
    header = bytearray(tar_header("metadata.json", b"0", 2))
    header[0:1] = b"M"  # the checksum no longer matches
    tar = GzipTar(tmp_path / "checksum.tar.gz")
    tar.write(bytes(header) + b"{}" + bytes(510))
    with pytest.raises(ContractViolation, match="checksum mismatch"):
        extract_bundle(tar.close(), tmp_path / "s1")
    (tmp_path / "cut.tar.gz").write_bytes(gzip.compress(tar_header("metadata.json", b"0", 2) + b"{}", mtime=0))
    with pytest.raises(ContractViolation, match="truncated"):
        extract_bundle(tmp_path / "cut.tar.gz", tmp_path / "s2")
    tar = GzipTar(tmp_path / "pax.tar.gz")
    tar.write(tar_header("PaxHeaders/x", b"x", 12) + b"99 path=x\n\x00\x00" + bytes(500))
    small_file(tar, "x", b"")
    with pytest.raises(ContractViolation, match="malformed PAX"):
        extract_bundle(tar.close(), tmp_path / "s3")


def test_depth_and_name_length_are_capped(tmp_path: Path) -> None:
    write_bundle(tmp_path / "deep.tar.gz", {"a/b/c/d/e": b"x"})
    with pytest.raises(ContractViolation, match="5 levels deep; at most 4"):
        extract_bundle(tmp_path / "deep.tar.gz", tmp_path / "s1", ExtractionLimits(max_depth=4))
    write_bundle(tmp_path / "long.tar.gz", {"n" * 2000: b"x"})
    with pytest.raises(ContractViolation, match="name of 2000 bytes"):
        extract_bundle(tmp_path / "long.tar.gz", tmp_path / "s2")


def test_directory_entries_are_capped_too(tmp_path: Path) -> None:
    bundle = _crafted(tmp_path / "b.tar.gz", *[_directory(f"d{i}") for i in range(5)], _file("f"))
    with pytest.raises(ContractViolation, match="more than 4 directories"):
        extract_bundle(bundle, tmp_path / "s", ExtractionLimits(max_directories=4))
    assert extract_bundle(bundle, tmp_path / "ok", ExtractionLimits(max_directories=5)) == ["f"]


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_archives_of_every_common_format_are_read(tmp_path: Path, tar_format: int) -> None:
    # Long names take a PAX record, a GNU long-name header or the ustar prefix field, by format.
    long_name = "logs/" + "p" * 90 + "/" + "c" * 60 + ".log"
    members = {"./manifest.json": b"{}", long_name: b"line\n" * 1000, "logs/n\u00e9/x.log": "caf\u00e9\n".encode()}
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz", format=tar_format) as archive:
        archive.addfile(_directory("logs"))
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    names = extract_bundle(tmp_path / "b.tar.gz", tmp_path / "out")
    assert names == ["manifest.json", long_name, "logs/n\u00e9/x.log"]
    for name, data in members.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert read_member(tmp_path / "b.tar.gz", long_name) == members[long_name]


def test_an_empty_scratch_directory_may_exist(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b.tar.gz", {"metadata.json": b"{}"})
    (tmp_path / "out").mkdir()
    assert extract_bundle(tmp_path / "b.tar.gz", tmp_path / "out") == ["metadata.json"]


# --- JSON documents of a bundle --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    (deep_json(100_000), "nests deeper than 64 levels"),
    (b"[" * 65 + b"]" * 65, "nests deeper than 64 levels"),
    (b'{"a": ' * 200 + b"1" + b"}" * 200, "nests deeper than 64 levels"),
    (b"{not json", "is not JSON"),
    (b'"\xff"', "is not JSON"),
])
def test_json_documents_that_would_crash_a_reader_are_refused(tmp_path: Path, text: bytes, words: str) -> None:
    (tmp_path / "metadata.json").write_bytes(text)
    with pytest.raises(ContractViolation, match=words):
        read_json_document(tmp_path / "metadata.json", "metadata.json")


def test_json_documents_within_the_limits_are_read(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_bytes(b"[" * 64 + b"]" * 64)
    assert read_json_document(tmp_path / "ok.json", "ok.json") is not None
    (tmp_path / "big.json").write_bytes(b'"' + b"x" * 2000 + b'"')
    with pytest.raises(ContractViolation, match="2002 bytes; at most 1000"):
        read_json_document(tmp_path / "big.json", "big.json", max_bytes=1000)


def test_a_refusal_quotes_a_long_name_short_on_one_line(tmp_path: Path) -> None:
    bundle = _crafted(tmp_path / "b.tar.gz", _link("x\n" * 30_000, "/etc/passwd"))
    with pytest.raises(ContractViolation, match="is a symlink") as raised:
        extract_bundle(bundle, tmp_path / "s")
    assert len(str(raised.value)) < 300 and "\n" not in str(raised.value)

"""A member packs to the same bytes however it is held, and its header is tarfile's PAX header."""

from __future__ import annotations

import hashlib
import os
import random
import tarfile
from pathlib import Path

import pytest

from pathops_contracts.bundle_writer import FileSlice, Member, pack_member, tar_header, write_bundle

NAMES = ["a", "logs/web-0/web.log", "x" * 99, "y" * 100, "z" * 101, "d/" + "e" * 150, "f" * 300,
         "logs/caf\u00e9/web.log", "logs/\u65e5\u672c/app.log", "with space/and\ttab.txt", "logs/a b/c.previous.log"]


def _pax(name: str, size: int, mtime: int) -> bytes:
    """The oracle: tarfile's own PAX header for a regular file of the bundle's fixed mode and owner."""
    info = tarfile.TarInfo(name)
    for field, value in {"size": size, "mtime": mtime, "mode": 0o644, "uid": 0, "gid": 0, "uname": "",
                         "gname": ""}.items():
        setattr(info, field, value)
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [0, 1, 511, 512, 10**9, 8**11 - 1, 8**11])
@pytest.mark.parametrize("mtime", [0, 1_700_000_000, 8**11])
def test_the_header_is_tarfiles_pax_header(name: str, size: int, mtime: int) -> None:
    assert tar_header(name, size, mtime) == _pax(name, size, mtime)


@pytest.mark.parametrize("seed", range(4))
def test_short_ascii_names_get_tarfiles_header_field_by_field(seed: int) -> None:
    """The USTAR fast path against tarfile on random ASCII names of every length up to 100 (blanks,
    controls and punctuation included), sizes and mtimes up to the largest that fit."""
    rng = random.Random(seed)
    for _ in range(2000):
        name = "".join(chr(rng.randrange(1, 128)) for _ in range(rng.randrange(1, 101)))
        size = rng.choice([0, 1, 511, 512, rng.randrange(8**11)])
        mtime = rng.choice([0, rng.randrange(8**11)])
        assert tar_header(name, size, mtime) == _pax(name, size, mtime), (name, size, mtime)


def _content(rng: random.Random) -> bytes:
    # Up to 1 MiB a member is compressed in one call, past it streamed a MiB at a time: both sides of it.
    size = rng.choice([0, 1, 100, 511, 512, 513, 4096, 65_536, 300_000, 1024 * 1024, 1024 * 1024 + 1, 1_100_000])
    shape = rng.randrange(3)
    if shape == 0:
        return os.urandom(size)
    if shape == 1:
        return bytes(rng.choice(b"ab \n") for _ in range(size))
    return (b"2026-12-01T22:25:19.741880Z INFO handled request 42551 in 65 ms status=200\n" * (size // 70 + 1))[:size]


@pytest.mark.parametrize("seed", range(4))
def test_bytes_a_file_and_a_slice_pack_to_the_same_member(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for run in range(12):
        content = _content(rng)
        name = rng.choice(NAMES)
        spool = tmp_path / f"spool-{run}"
        before = os.urandom(rng.randrange(3000))
        spool.write_bytes(before + content + b"tail")
        whole = tmp_path / f"file-{run}"
        whole.write_bytes(content)
        packed = {pack_member(name, content, 7), pack_member(name, whole, 7),
                  pack_member(name, FileSlice(spool, len(before), len(content)), 7)}
        assert len(packed) == 1
        member = packed.pop()
        assert member.size == len(content)
        assert member.tar_size % 512 == 0


def test_a_packed_member_reads_back_with_tarfile(tmp_path: Path) -> None:
    content = b"line\n" * 1000
    member = pack_member("logs/p/c.log", content, 0)
    archive = tmp_path / "one.tar.gz"
    archive.write_bytes(member.gzip)  # one member: the end-of-archive blocks are write_bundle's
    with tarfile.open(archive, "r:gz") as tar:
        info = tar.next()
        assert info is not None and info.name == "logs/p/c.log" and info.size == len(content)
        extracted = tar.extractfile(info)
        assert extracted is not None and extracted.read() == content


def test_the_bundle_digest_is_the_sha256_of_the_file_written(tmp_path: Path) -> None:
    members: dict[str, Member] = {"logs/a.log": b"a\n" * 3000, "findings.json": b"{}\n"}
    slice_file = tmp_path / "spool"
    slice_file.write_bytes(b"xx" + b"b\n" * 500)
    members["logs/b.log"] = FileSlice(slice_file, 2, 1000)
    bundle = tmp_path / "bundle.tar.gz"
    packed = {"logs/a.log": pack_member("logs/a.log", b"a\n" * 3000)}
    assert write_bundle(bundle, members, packed=packed) == hashlib.sha256(bundle.read_bytes()).hexdigest()
    with tarfile.open(bundle, "r:gz") as tar:
        assert sorted(tar.getnames()) == ["findings.json", "logs/a.log", "logs/b.log"]


@pytest.mark.parametrize("length", [1, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 1])
def test_a_member_shorter_than_its_size_is_refused(tmp_path: Path, length: int) -> None:
    """Content that ends before the size its header was written with (a file that shrank after it was
    sized, a slice past the end of its spool) is an error, packed in one call or streamed."""
    spool = tmp_path / "spool"
    spool.write_bytes(bytes(length - 1))
    with pytest.raises(OSError, match="changed size while it was bundled"):
        pack_member("logs/a.log", FileSlice(spool, 0, length))
    with pytest.raises(OSError, match="changed size while it was bundled"):
        pack_member("logs/a.log", FileSlice(spool, 1, length))


def test_a_bundle_of_members_both_sides_of_a_mebibyte_reads_back_the_same_however_they_are_held(
        tmp_path: Path) -> None:
    contents = {"empty": b"", "exact": os.urandom(1024 * 1024), "over": os.urandom(1024 * 1024 + 1),
                "x" * 100: b"short\n", "y" * 101: os.urandom(2 * 1024 * 1024 + 3)}
    spool = tmp_path / "spool"
    spool.write_bytes(b"".join(contents.values()))
    slices: dict[str, Member] = {}
    offset = 0
    for name, content in contents.items():
        slices[name] = FileSlice(spool, offset, len(content))
        offset += len(content)
    digests = {write_bundle(tmp_path / "bytes.tar.gz", dict(reversed(contents.items()))),
               write_bundle(tmp_path / "slices.tar.gz", slices)}
    assert len(digests) == 1
    with tarfile.open(tmp_path / "slices.tar.gz", "r:gz") as tar:
        read = {}
        for info in tar:
            extracted = tar.extractfile(info)
            assert extracted is not None
            read[info.name] = (info.size, extracted.read())
    assert read == {name: (len(content), content) for name, content in contents.items()}

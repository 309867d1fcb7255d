"""Bundles: reproducible to the byte when written, refused when crafted."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pathops_contracts.bundles import ExtractionLimits, extract_bundle, read_member, write_bundle
from pathops_contracts.errors import ContractViolation


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

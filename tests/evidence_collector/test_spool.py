"""The staging spool: concurrent streams land in their own ranges of one file, and the bundle reads them back."""

from __future__ import annotations

import gzip
import tarfile
import threading
from pathlib import Path

import pytest

from evidence_collector.redaction import Redactor
from evidence_collector.spool import Spool
from evidence_collector.staging import Staging
from pathops_contracts.bundles import write_bundle
from pathops_contracts.errors import ContractViolation


def test_concurrent_streams_never_interleave_and_each_reads_back_whole(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "stage", Redactor(key=b"k" * 32), 10**8)
    staging.root.mkdir()
    expected = {f"logs/pod-{n}/web.log": [f"pod {n} line {i}\n" * (1 + i % 3) for i in range(200)] for n in range(16)}
    start = threading.Barrier(len(expected))

    def stream(name: str, blocks: list[str]) -> None:
        start.wait()  # every stream writes at once
        staging.write_stream(name, iter(blocks), 10**6)

    threads = [threading.Thread(target=stream, args=item) for item in expected.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, blocks in expected.items():
        assert staging.read(name) == "".join(blocks).encode()
    assert not list(staging.root.rglob("*.log"))  # one spool file, not a file per log
    write_bundle(tmp_path / "b.tar.gz", staging.members())
    with tarfile.open(tmp_path / "b.tar.gz") as archive:
        for name, blocks in expected.items():
            member = archive.extractfile(name)
            assert member is not None and member.read() == "".join(blocks).encode()


def test_a_broken_stream_leaves_nothing_under_its_name(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "stage", Redactor(key=b"k" * 32), 10**6)
    staging.root.mkdir()
    staging.write_stream("logs/p/c.log", iter(["first run\n"]), 1000)

    def breaks() -> object:
        yield "half a line of the second run\n"
        raise OSError("connection reset")

    with pytest.raises(OSError, match="reset"):
        staging.write_stream("logs/p/c.log", breaks(), 1000)  # type: ignore[arg-type]
    assert "logs/p/c.log" not in staging.members()


def test_a_name_staged_as_a_file_and_in_the_spool_is_refused(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "stage", Redactor(key=b"k" * 32), 10**6)
    staging.root.mkdir()
    staging.write_text("objects/notes.txt", "from the spool\n")
    (staging.root / "objects").mkdir()
    (staging.root / "objects" / "notes.txt").write_text("written around the staging\n")
    with pytest.raises(ContractViolation, match=r"objects/notes\.txt was staged twice"):
        staging.members()


def test_the_spool_is_never_a_file_someone_else_made(tmp_path: Path) -> None:
    planted = tmp_path / "stage.spool"
    planted.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        Spool(planted).put("logs/p/c.log", b"line\n")
    assert not (tmp_path / "elsewhere").exists()


def test_an_excerpt_is_not_redacted_again_but_is_still_scanned(tmp_path: Path) -> None:
    """Excerpts are made of lines already redacted; whatever joining them made is caught by the final scan
    as the excerpt is written, and that line replaced: it never reaches the bundle."""
    from datetime import UTC, datetime

    from evidence_collector.collector import Collected
    from evidence_collector.snapshot import SnapshotIdentity, assemble
    from evidence_collector.window import resolve_window

    redactor = Redactor(key=b"k" * 32)
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    assert staging.write_excerpt("logs/p/c.excerpt.txt", "== head ==\nglpat-" + "aB3dE5fG7hJ9kL1mN3pQ5r\n", cap=1000)
    staged = staging.read("logs/p/c.excerpt.txt")
    assert staged.startswith(b"== head ==\n[REDACTED:scan-refused:") and b"glpat-" not in staged
    manifest, _, _ = assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                              resolve_window("30m", datetime.now(UTC)), Collected([], None, None, None, None),
                              redactor, tmp_path / "bundle.tar.gz")
    assert manifest["redaction"] == {"scan-refused": 1}
    assert b"glpat-" not in gzip.decompress((tmp_path / "bundle.tar.gz").read_bytes())

"""The lean layer tar writer: what it writes reads back the same with tarfile and GNU tar."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from cove.archive.tarwriter import LayerTarWriter

LONG_DIR = "d" * 120
NAMES = [
    "short.txt",
    f"{'a' * 60}/{'b' * 60}/file.txt",  # over 100 bytes, split into ustar's prefix and name
    f"{LONG_DIR}/{'c' * 120}.txt",  # too long for ustar: a PAX path
    "ünïcode/файл.txt",  # not ASCII: a PAX path
]


def written(tmp_path: Path) -> bytes:
    buf = io.BytesIO()
    tar = LayerTarWriter(buf)
    tar.directory("dir", mode=0o750, uid=1, gid=2, mtime=1_600_000_000)
    for i, name in enumerate(NAMES):
        source = tmp_path / f"src{i}"
        source.write_bytes(f"content {i}\n".encode() * (i * 300 + 1))
        tar.file(name, str(source), size=source.stat().st_size, mode=0o640, uid=3_000_000, gid=4, mtime=5)
    tar.symlink("link", "/" + "t" * 150, uid=0, gid=0)
    tar.close()
    assert tar.count == len(NAMES) + 2
    return buf.getvalue()


def test_round_trip_through_tarfile(tmp_path: Path) -> None:
    data = written(tmp_path)
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["dir", *NAMES, "link"]
        assert members["dir"].isdir() and members["dir"].mode == 0o750 and members["dir"].uid == 1
        for i, name in enumerate(NAMES):
            m = members[name]
            assert (m.mode, m.uid, m.gid, m.mtime) == (0o640, 3_000_000, 4, 5)
            assert tar.extractfile(m).read() == f"content {i}\n".encode() * (i * 300 + 1)  # type: ignore[union-attr]
        assert members["link"].issym() and members["link"].linkname == "/" + "t" * 150


def test_gnu_tar_reads_it(tmp_path: Path) -> None:
    (tmp_path / "layer.tar").write_bytes(written(tmp_path))
    listing = subprocess.run(
        ["tar", "-tf", str(tmp_path / "layer.tar")], capture_output=True, check=True, text=True
    ).stdout.splitlines()
    assert listing == ["dir/", *NAMES, "link"]


def test_a_file_that_shrinks_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"12")
    with pytest.raises(OSError, match="shrank"):
        LayerTarWriter(io.BytesIO()).file("f", str(source), size=10, mode=0o644)


@pytest.mark.parametrize("workers", [1, 4])
def test_the_mirror_holds_what_the_tar_holds(tmp_path: Path, workers: int) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    sources = tmp_path / "src"
    sources.mkdir()
    buf = io.BytesIO()
    tar = LayerTarWriter(buf, str(mirror), workers=workers)
    tar.directory("d", mode=0o750, uid=5, gid=6, mtime=1_000)
    for i in range(300):
        source = sources / f"f{i}"
        source.write_bytes(b"x" * i)
        tar.file(f"d/f{i}", str(source), size=i, mode=0o640, uid=7, gid=8, mtime=2_000 + i)
    big = sources / "big"
    big.write_bytes(b"y" * (3 << 20))  # over the in-memory size: copied in chunks
    tar.file("d/big", str(big), size=3 << 20, mode=0o600, mtime=3_000)
    tar.symlink("d/link", "f1")
    tar.close()
    st = os.stat(mirror / "d")
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime) == (0o750, 5, 6, 1_000)
    for i in range(300):
        st = os.stat(mirror / "d" / f"f{i}")
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime, st.st_size) == (
            0o640,
            7,
            8,
            2_000 + i,
            i,
        )
    assert (mirror / "d" / "big").read_bytes() == big.read_bytes()
    assert os.readlink(mirror / "d" / "link") == "f1"
    buf.seek(0)
    with tarfile.open(fileobj=buf) as read:
        assert len(read.getmembers()) == 303


def test_a_mirror_failure_is_raised(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"1")
    tar = LayerTarWriter(io.BytesIO(), str(tmp_path / "missing"), workers=4)
    tar.file("f", str(source), size=1, mode=0o644)
    with pytest.raises(FileNotFoundError):
        tar.close()

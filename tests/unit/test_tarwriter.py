"""The lean layer tar writer: what it writes reads back the same with tarfile and GNU tar."""

from __future__ import annotations

import io
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

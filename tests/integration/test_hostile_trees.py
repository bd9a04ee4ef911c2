"""Trees a hostile image or container makes: deep, long-named, or changing while cove works on
them. Each gets a clear error or is handled, and none leads outside its root."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.archive.apply import MAX_DEPTH, WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.archive.treetar import TreeTar
from cove.errors import CoveError, LayerError
from cove.host.trees import remove_tree
from tests.conftest import CoveRunner, need_root
from tests.helpers import tars as t
from tests.helpers.racing import swapping


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()


def apply(data: bytes, dest: Path | int) -> None:
    apply_layer(TarReader(ChunkReader(iter([data]))), dest, WhiteoutMode.APPLY)


def deep_tar(levels: int, name: str = "d") -> bytes:
    """A tar of a directory chain ``levels`` deep with a file at the bottom."""
    entries = [t.directory("/".join([name] * i)) for i in range(1, levels + 1)]
    entries.append(t.file("/".join([name] * levels) + "/bottom", b"deep"))
    return t.make_tar(entries)


def test_depth_and_name_bounds(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    apply(deep_tar(MAX_DEPTH - 1), dest)  # the deepest allowed: a directory chain and a file
    with pytest.raises(LayerError, match=f"is {MAX_DEPTH + 1} directories deep; at most {MAX_DEPTH}"):
        apply(deep_tar(MAX_DEPTH), dest)
    with pytest.raises(LayerError, match="name is too long"):
        apply(t.make_tar([t.file("x" * 256, b"")]), dest)
    with pytest.raises(LayerError, match="name is too long"):
        apply(t.make_tar([t.file("/".join(["y" * 200] * 21), b"")]), dest)


@pytest.mark.slow
def test_a_deep_tree_is_archived_and_removed_without_recursion(tmp_path: Path) -> None:
    """Deeper than Python's recursion limit, and than the walks keep descriptors open for."""
    top = tmp_path / "deep"
    make_deep(top, 1500)
    try:
        out = io.BytesIO()
        tar = TreeTar(out)
        tar.add_tree(str(top))
        tar.close()
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
            names = archive.getnames()
        assert len(names) == 1501 and names[-1].endswith("a/bottom") and names[-1].count("/") == 1500
    finally:
        remove_tree(top)  # (pytest's own cleanup would recurse too deep)
    assert not top.exists()


def make_deep(top: Path, levels: int) -> None:
    """A chain of ``levels`` directories ``a`` under ``top``, and a file at the bottom (made
    through descriptors: os.makedirs recurses once per level, too)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("a", dir_fd=fd)
            child = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.fixture
def swapped(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    with swapping(tmp_path) as roots:
        yield roots


@pytest.mark.slow
def test_applying_into_a_tree_that_changes_writes_only_inside(swapped: tuple[Path, Path]) -> None:
    root, host = swapped
    for i in range(150):
        entries = [t.file(f"w/dir/new{i}-{j}", b"x") for j in range(20)]
        layer = t.make_tar([*entries, t.directory(f"w/dir/d{i}"), t.file(f"w/dir/d{i}/f", b"y")])
        # The link there at that moment: refused, not followed; or a name taken meanwhile.
        with contextlib.suppress(CoveError):
            apply(layer, root)
    assert sorted(p.name for p in host.iterdir()) == ["keep"]


def test_archiving_a_tree_that_changes_reads_only_inside(swapped: tuple[Path, Path]) -> None:
    root, _ = swapped
    for _ in range(300):
        out = io.BytesIO()
        tar = TreeTar(out)
        tar.add_tree(str(root / "w"))
        tar.close()
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    data = archive.extractfile(member)
                    assert data is not None and data.read() != b"HOST", member.name


@pytest.mark.slow
def test_import_of_a_too_deep_tree_is_a_clear_error_and_breaks_nothing(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    for levels in (1200, 3000):
        archive = tmp_path / f"deep{levels}.tar"
        archive.write_bytes(deep_tar(levels))
        result = cove("import", str(archive), f"deep:{levels}", check=False)
        assert result.rc == 1, result
        assert f"is {MAX_DEPTH + 1} directories deep; at most {MAX_DEPTH} are allowed" in result.err
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
    for argv in (["images"], ["ps", "-a"], ["system", "df"], ["system", "prune", "-af"]):
        cove(*argv)
    assert [p.name for p in (cove.root / "snapshots").iterdir() if p.name.startswith("trash-")] == []
    # A deep tree within the bound imports, runs, and goes again.
    archive = tmp_path / "ok.tar"
    archive.write_bytes(deep_tar(500))
    cove("import", str(archive), "deep:ok")
    cove("run", "--rm", "deep:ok", "/bin/true", check=False)  # (no /bin/true in it: exit 127)
    cove("rmi", "deep:ok")
    cove("system", "prune", "-af")
    cove("images")


@pytest.mark.slow
def test_commit_and_diff_with_the_copy_driver(cove: CoveRunner) -> None:
    """The copy driver's layer diff walks back into the tree by descriptors: still right."""
    cove.with_driver("copy")
    cove("image", "bootstrap", "busybox", "-q")
    script = "mkdir -p /srv/a/b; echo one > /srv/a/b/f; ln -s /etc/passwd /srv/link; rm /bin/ls"
    cove("run", "--name", "c", "busybox", "sh", "-c", script)
    changes = cove("diff", "c").out.split("\n")
    assert {"A /srv/a/b/f", "A /srv/link", "D /bin/ls"} <= set(changes), changes
    cove("commit", "c", "committed:1")
    script = "cat /srv/a/b/f; readlink /srv/link; ls /bin/ls"
    out = cove.proc("run", "--rm", "committed:1", "sh", "-c", script, check=False)
    assert out.stdout == b"one\n/etc/passwd\n" and b"No such file" in out.stderr
    cove("rm", "c")


def image_with(cove: CoveRunner, tmp_path: Path, name: str, entries: list[t.Entry]) -> str:
    """busybox's files with ``entries`` on top, as the image ``name``."""
    cid = cove("create", "busybox", "true").out.strip()
    cove.proc("cp", "-", f"{cid}:/", input=t.make_tar(entries))
    cove("commit", cid, f"{name}:1")
    cove("rm", cid)
    return f"{name}:1"


@pytest.mark.slow
def test_an_unusable_passwd_file_is_a_clear_error_not_a_hang(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    fifo = image_with(cove, tmp_path, "fifo", [t.directory("etc"), t.fifo("etc/passwd", mode=0o644)])
    result = cove.proc("run", "--rm", fifo, "/bin/true", check=False, timeout=30)
    assert result.returncode == 125, result
    assert b"cannot read the image's /etc/passwd: /etc/passwd is a FIFO, not a regular file" in result.stderr
    bad = image_with(
        cove, tmp_path, "bad", [t.directory("etc"), t.file("etc/passwd", b"app:x:abc:1::/:/bin/sh\n")]
    )
    result = cove.proc("run", "--rm", "-u", "app", bad, "/bin/true", check=False, timeout=30)
    assert result.returncode == 125, result
    assert b"the image's /etc/passwd line 1: the user ID 'abc' is not a number" in result.stderr
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr
    assert cove("ps", "-aq").out == ""  # --rm: nothing left behind either

"""Applying layers to real directories: every entry type, whiteouts, and escapes refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.errors import LayerError
from tests.conftest import need_root
from tests.helpers import tars as t
from tests.helpers.trees import describe


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()


def apply(data: bytes, dest: Path, mode: WhiteoutMode = WhiteoutMode.OVERLAY):  # type: ignore[no-untyped-def]
    return apply_layer(TarReader(ChunkReader(iter([data]))), dest, mode)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "root"
    d.mkdir()
    return d


def test_every_entry_type_is_preserved(dest: Path) -> None:
    # security.capability v2 granting cap_net_bind_service
    cap = bytes([1, 0, 0, 2, 0, 0x20, 0, 0] + [0] * 12)
    layer = t.make_tar(
        [
            t.directory("etc", mode=0o755),
            t.file("etc/conf", b"hello", mode=0o640, uid=1000, gid=1001, mtime=1_500_000_000),
            t.file("bin/suid", b"#!", mode=0o4755, uid=0, gid=0),
            t.file("bin/ping", b"elf", mode=0o755, xattrs={"security.capability": cap, "user.note": b"n"}),
            t.hardlink("bin/ping2", "bin/ping"),
            t.symlink("etc/link", "/etc/conf", uid=5, gid=6),
            t.chardev("dev/null", 1, 3),
            t.fifo("run/pipe", mode=0o600),
            t.directory("tmp", mode=0o1777),
            t.directory("locked", mode=0o500, uid=7, gid=8, mtime=1_400_000_000),
            t.file("locked/inside", b"x"),
        ]
    )
    stats = apply(layer, dest)
    tree = describe(dest)
    assert tree["etc/conf"][:5] == ("file", 0o640, 1000, 1001, tree["etc/conf"][4])
    assert (dest / "etc/conf").read_bytes() == b"hello"
    assert os.stat(dest / "etc/conf").st_mtime == 1_500_000_000
    assert tree["bin/suid"][1] == 0o4755
    assert os.getxattr(dest / "bin/ping", "security.capability") == cap
    assert os.getxattr(dest / "bin/ping", "user.note") == b"n"
    assert os.stat(dest / "bin/ping").st_ino == os.stat(dest / "bin/ping2").st_ino
    assert tree["etc/link"][0] == "symlink" and tree["etc/link"][4] == "/etc/conf"
    assert os.lstat(dest / "etc/link").st_uid == 5
    assert tree["dev/null"][:5] == ("chardev", 0o666, 0, 0, "1:3")
    assert tree["run/pipe"][0] == "fifo"
    assert tree["tmp"][1] == 0o1777
    assert tree["locked"][1:4] == (0o500, 7, 8)
    # directory times are set after their contents were written
    assert os.stat(dest / "locked").st_mtime == 1_400_000_000
    assert stats.entries == 11
    assert stats.content_size == len(b"hello") + 2 + 3 + 1


def test_later_entries_replace_earlier_ones(dest: Path) -> None:
    apply(
        t.make_tar([t.file("a", b"1"), t.symlink("a", "elsewhere"), t.directory("d"), t.file("d", b"f")]),
        dest,
    )
    assert (dest / "a").is_symlink()
    assert (dest / "d").read_bytes() == b"f"


def test_overlay_whiteouts_and_opaque_dirs(dest: Path) -> None:
    apply(t.make_tar([t.directory("etc"), t.whiteout("etc/gone"), t.directory("var"), t.opaque("var")]), dest)
    st = os.lstat(dest / "etc/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "var", "trusted.overlay.opaque") == b"y"
    assert not (dest / "var/.wh..wh..opq").exists()


def test_apply_mode_carries_whiteouts_out(dest: Path) -> None:
    apply(t.make_tar([t.file("etc/gone", b"x"), t.file("etc/kept", b"y"), t.file("var/old", b"z")]), dest)
    apply(
        t.make_tar([t.whiteout("etc/gone"), t.directory("var"), t.opaque("var"), t.file("var/new", b"n")]),
        dest,
        WhiteoutMode.APPLY,
    )
    assert not (dest / "etc/gone").exists()
    assert (dest / "etc/kept").exists()
    assert sorted(os.listdir(dest / "var")) == ["new"]


def test_xattrs_for_overlayfs_in_a_layer_are_ignored(dest: Path) -> None:
    apply(t.make_tar([t.directory("d", xattrs={"trusted.overlay.opaque": b"y", "user.ok": b"1"})]), dest)
    assert os.listxattr(dest / "d") == ["user.ok"]


# --- escapes ---------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the root, holding a file an attacker would like to overwrite."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "target").write_text("precious")
    return d


def _untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["target"]
    assert (outside / "target").read_text() == "precious"


@pytest.mark.parametrize("mode", list(WhiteoutMode))
@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([t.file("../outside/target", b"pwned")], "'..'"),
        ([t.file("a/../../outside/target", b"pwned")], "'..'"),
        ([t.file("/abs/file", b"x")], "absolute path"),
        ([t.symlink("escape", "../outside"), t.file("escape/target", b"pwned")], "through the symbolic link"),
        ([t.symlink("escape", "/"), t.file("escape/etc/passwd", b"pwned")], "through the symbolic link"),
        (
            [t.directory("d"), t.symlink("d/up", "../../outside"), t.file("d/up/new", b"x")],
            "through the symbolic",
        ),
        ([t.hardlink("stolen", "../outside/target")], "'..'"),
        (
            [t.symlink("escape", "../outside"), t.hardlink("stolen", "escape/target")],
            "through the symbolic link",
        ),
        ([t.symlink("escape", "../outside"), t.whiteout("escape/target")], "through the symbolic link"),
        ([t.symlink("escape", "../outside"), t.opaque("escape")], "through the symbolic link"),
        ([t.file(".wh...", b"")], "invalid whiteout"),
    ],
)
def test_escapes_are_refused(
    dest: Path, outside: Path, entries: list[t.Entry], why: str, mode: WhiteoutMode
) -> None:
    with pytest.raises(LayerError, match=why):
        apply(t.make_tar(entries), dest, mode)
    _untouched(outside)


def test_final_symlink_is_replaced_not_followed(dest: Path, outside: Path) -> None:
    apply(t.make_tar([t.symlink("f", str(outside / "target")), t.file("f", b"inside")]), dest)
    assert (dest / "f").read_bytes() == b"inside"
    _untouched(outside)


def test_hardlink_to_a_symlink_links_the_symlink(dest: Path, outside: Path) -> None:
    apply(t.make_tar([t.symlink("s", str(outside / "target")), t.hardlink("h", "s")]), dest)
    assert (dest / "h").is_symlink()
    _untouched(outside)


def test_hardlink_to_missing_target(dest: Path) -> None:
    with pytest.raises(LayerError, match="does not exist"):
        apply(t.make_tar([t.hardlink("h", "nope")]), dest)

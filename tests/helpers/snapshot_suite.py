"""The snapshotter conformance suite: what every ``Snapshotter`` implementation must do.

A tier's test module subclasses :class:`SnapshotterConformance` and gives it a ``subject``
fixture (a :class:`Subject`): the unit tier runs it over the copy snapshotter without root,
looking at a single bind mount's source instead of mounting it; the integration tier runs
it over both implementations with real mounts (overlayfs needs root).

Layers are made the way images are unpacked: a tar applied into :meth:`Snapshotter.begin`'s
directory in the snapshotter's own whiteout form, then committed.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cove.archive.apply import apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.db.database import Database
from cove.errors import AlreadyExists, Conflict, NotFound
from cove.host.mounts import mount_all, unmount
from cove.images import diff
from cove.oci.mount import Mount
from cove.snapshots.snapshotter import Snapshotter
from tests.helpers import tars as t


@dataclass
class Subject:
    snapshotter: Snapshotter
    db: Database
    scratch: Path
    real_mounts: bool  # mount for real (root); else read a single bind mount's source
    _made: list[Path] = field(default_factory=list)

    @contextlib.contextmanager
    def show(self, mounts: Sequence[Mount]) -> Iterator[Path]:
        """The tree ``mounts`` show, for the block's time."""
        if not self.real_mounts:
            [mount] = mounts
            assert mount.type == "bind", f"without root only a bind mount can be looked at: {mount}"
            yield Path(mount.source)
            return
        target = self.scratch / f"mnt-{len(self._made)}"
        target.mkdir()
        self._made.append(target)
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target)

    def read_only(self, mounts: Sequence[Mount]) -> bool:
        if not self.real_mounts:
            return all(m.readonly for m in mounts)
        with self.show(mounts) as root:
            try:
                (root / "probe").write_text("x")
            except OSError as exc:
                return exc.errno == errno.EROFS
            return False


def entries_of(*items: t.Entry) -> list[t.Entry]:
    """``items`` owned by whoever runs the tests (a layer applied without root cannot chown)."""
    for item in items:
        item.uid, item.gid = os.getuid(), os.getgid()
    return list(items)


def layer_tar(*items: t.Entry) -> bytes:
    return t.make_tar(entries_of(*items))


def add_layer(s: Snapshotter, key: str, parent: str | None, data: bytes) -> None:
    ext = s.begin(parent)
    try:
        stats = apply_layer(TarReader(ChunkReader(iter([data]))), ext.path, s.whiteout_mode)
        ext.commit(key, parent, size=stats.content_size, usage=stats.disk_usage)
    except BaseException:
        ext.abort()
        raise


def listing(root: Path) -> dict[str, str]:
    """What a tree holds: file contents, ``<dir>`` and ``-> target`` for links."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "<dir>"
        else:
            out[rel] = path.read_text()
    return out


def base_and_top(s: Snapshotter) -> None:
    """Two layers: ``top`` deletes a file of ``base``, changes one, adds one, empties a directory."""
    add_layer(
        s, "base", None,
        layer_tar(
            t.directory("etc"), t.file("etc/a", b"a1"), t.file("etc/b", b"b1"),
            t.directory("opt"), t.file("opt/old", b"old"), t.symlink("link", "etc/a"),
        ),
    )  # fmt: skip
    add_layer(
        s, "top", "base",
        layer_tar(
            t.whiteout("etc/b"), t.file("etc/a", b"a2"), t.file("etc/c", b"c1"),
            t.directory("opt"), t.opaque("opt"), t.file("opt/new", b"new"),
        ),
    )  # fmt: skip


TOP_VIEW = {
    "etc": "<dir>",
    "etc/a": "a2",
    "etc/c": "c1",
    "link": "-> etc/a",
    "opt": "<dir>",
    "opt/new": "new",
}


class SnapshotterConformance:
    # -- layers --------------------------------------------------------------------------

    def test_a_layer_is_invisible_until_committed(self, subject: Subject) -> None:
        s = subject.snapshotter
        ext = s.begin(None)
        (ext.path / "f").write_text("x")
        assert s.get("l1") is None and s.all() == []
        info = ext.commit("l1", None, size=1)
        assert s.get("l1") == info and info.kind == "committed" and info.parent_id is None
        assert [i.key for i in s.all()] == ["l1"]
        assert info.size == 1 and info.usage > 0
        assert s.usage("l1") == (info.usage, info.size)

    def test_a_chain_of_layers_shows_their_union_in_a_read_only_view(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        chain = s.chain("top")
        assert [i.key for i in chain] == ["top", "base"]
        assert chain[0].parent_id == chain[1].id and chain[1].parent_id is None
        with subject.show(s.mounts("top")) as root:
            assert listing(root) == TOP_VIEW
        with subject.show(s.mounts("base")) as root:
            assert listing(root)["etc/b"] == "b1"
        assert subject.read_only(s.mounts("top"))
        assert subject.read_only(s.mounts("base"))

    def test_the_same_layer_committed_twice_keeps_the_first(self, subject: Subject) -> None:
        s = subject.snapshotter
        first, second = s.begin(None), s.begin(None)
        (first.path / "f").write_text("first")
        (second.path / "f").write_text("second")
        kept = first.commit("same", None, size=5)
        assert second.commit("same", None, size=6) == kept  # the other writer got there first
        assert not second.path.exists()
        assert [i.key for i in s.all()] == ["same"]
        with subject.show(s.mounts("same")) as root:
            assert (root / "f").read_text() == "first"

    def test_an_aborted_layer_leaves_nothing(self, subject: Subject) -> None:
        s = subject.snapshotter
        add_layer(s, "base", None, layer_tar(t.file("f", b"x")))
        before = sorted(p.name for p in s.root.iterdir())
        ext = s.begin("base")
        (ext.path / "g").write_text("y")
        ext.abort()
        ext.abort()  # twice is harmless
        assert sorted(p.name for p in s.root.iterdir()) == before
        assert subject.db.query("SELECT key FROM snapshots WHERE kind = 'preparing'") == []

    def test_a_layer_over_a_parent_that_is_gone_is_refused_and_can_be_aborted(self, subject: Subject) -> None:
        s = subject.snapshotter
        ext = s.begin(None)
        with pytest.raises(NotFound, match="snapshot nowhere does not exist"):
            ext.commit("child", "nowhere", size=0)
        ext.abort()
        assert s.all() == [] and list(s.root.iterdir()) == []
        with pytest.raises(NotFound):
            s.prepare("c", "nowhere")
        assert s.all() == [] and list(s.root.iterdir()) == []

    # -- writable snapshots --------------------------------------------------------------

    def test_prepare_gives_writable_mounts_over_the_parent(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        mounts = s.prepare("c1", "top")
        assert s.mounts("c1") == mounts
        info = s.require("c1")
        assert info.kind == "active" and info.parent_id == s.require("top").id
        assert not subject.read_only(mounts)
        with subject.show(mounts) as root:
            assert {k: v for k, v in listing(root).items() if k != "probe"} == TOP_VIEW
            (root / "etc" / "a").write_text("a3")
        # the layers below are untouched
        with subject.show(s.mounts("top")) as root:
            assert (root / "etc" / "a").read_text() == "a2"
        assert s.usage("c1")[1] > 0  # measured: a writable snapshot has no recorded size
        s.prepare("build-1", "base")
        assert s.writable_keys() == ["build-1", "c1"] and s.writable_keys("build-") == ["build-1"]

    def test_prepare_without_a_parent_is_an_empty_tree(self, subject: Subject) -> None:
        s = subject.snapshotter
        with subject.show(s.prepare("scratch", None)) as root:
            assert listing(root) == {}
            (root / "made").write_text("m")
        assert s.chain("scratch") == [s.require("scratch")]

    def test_a_key_is_prepared_once(self, subject: Subject) -> None:
        s = subject.snapshotter
        s.prepare("c1", None)
        with pytest.raises(AlreadyExists):
            s.prepare("c1", None)
        add_layer(s, "l", None, layer_tar(t.file("f")))
        with pytest.raises(AlreadyExists):
            s.prepare("l", None)

    def test_changes_of_a_writable_snapshot(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        with subject.show(s.prepare("c1", "top")) as root:
            (root / "etc" / "a").write_text("changed")
            (root / "etc" / "c").unlink()
            (root / "added").write_text("new")
            (root / "hosts").write_text("")  # a mount point the runtime made
        found = [(c.kind, c.path) for c in diff.changes(s, "c1", {"hosts"})]
        assert found == [("A", "/added"), ("C", "/etc"), ("C", "/etc/a"), ("D", "/etc/c")]
        assert diff.fresh_points(s, "c1", {"hosts", "etc/a"}) == ["hosts"]

    def test_a_writable_snapshot_written_as_a_layer_reproduces_it(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        with subject.show(s.prepare("c1", "top")) as root:
            (root / "etc" / "a").write_text("changed")
            (root / "etc" / "c").unlink()
            (root / "added").write_text("new")
            before = listing(root)
        out = io.BytesIO()
        assert diff.write_layer(s, "c1", out, set()) > 0
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
            names = tar.getnames()
        assert "etc/.wh.c" in names and "added" in names and "etc/a" in names
        assert "opt/new" not in names  # what the parent holds is not in the diff
        add_layer(s, "replayed", "top", out.getvalue())
        with subject.show(s.mounts("replayed")) as root:
            assert listing(root) == before

    def test_commit_turns_a_writable_snapshot_into_a_layer(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        with subject.show(s.prepare("build-1", "top")) as root:
            (root / "ran").write_text("output")
        info = s.commit_active("build-1", "built")
        assert s.get("build-1") is None
        assert info.key == "built" and info.kind == "committed" and info.parent_id == s.require("top").id
        assert info.size > 0 and info.usage > 0
        with subject.show(s.mounts("built")) as root:
            assert listing(root) == {**TOP_VIEW, "ran": "output"}
        assert subject.read_only(s.mounts("built"))
        with pytest.raises(Conflict):
            s.commit_active("built", "again")  # not a writable snapshot
        # The same change made again: the first layer stands, the new snapshot goes.
        s.prepare("build-2", "top")
        assert s.commit_active("build-2", "built") == info
        assert s.get("build-2") is None and len(s.all()) == 3

    # -- removal -------------------------------------------------------------------------

    def test_removal_is_refused_while_children_exist(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        s.prepare("c1", "top")
        with pytest.raises(Conflict, match="dependent snapshots: top"):
            s.remove("base")
        with pytest.raises(Conflict, match="dependent snapshots: c1"):
            s.remove("top")
        s.remove("c1")
        s.remove("top")
        s.remove("base")
        assert s.all() == [] and list(s.root.iterdir()) == []
        with pytest.raises(NotFound):
            s.remove("base")
        with pytest.raises(NotFound):
            s.mounts("base")

    def test_remove_all_takes_children_before_parents(self, subject: Subject) -> None:
        s = subject.snapshotter
        base_and_top(s)
        s.remove_all([s.require("top").id, s.require("base").id])
        assert s.all() == [] and list(s.root.iterdir()) == []

    # -- crashes -------------------------------------------------------------------------

    def test_what_a_crash_while_filling_leaves_is_cleaned(self, subject: Subject) -> None:
        s = subject.snapshotter
        add_layer(s, "base", None, layer_tar(t.file("f", b"x")))
        s.prepare("c1", "base")
        # A writer that died while unpacking: its row and half its files stay...
        ext = s.begin("base")
        (ext.path / "half").write_text("written")
        # ...as do a directory whose row was deleted and a removal that was interrupted.
        (s.root / "999" / "fs").mkdir(parents=True)
        (s.root / "trash-7-abcd" / "fs").mkdir(parents=True)
        assert s.get(f"#{ext.id}") is None and len(s.all()) == 2  # invisible meanwhile
        failures: list[tuple[Path, Exception]] = []
        assert s.clean_leftovers(lambda path, exc: failures.append((path, exc))) == 3
        assert failures == []
        assert subject.db.query("SELECT id FROM snapshots WHERE kind = 'preparing'") == []
        assert sorted(p.name for p in s.root.iterdir()) == sorted(str(i.id) for i in s.all())
        assert [i.key for i in s.all()] == ["base", "c1"]  # what was finished stays
        with subject.show(s.mounts("c1")) as root:
            assert listing(root) == {"f": "x"}
        assert s.clean_leftovers(lambda path, exc: failures.append((path, exc))) == 0

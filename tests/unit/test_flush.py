"""Each commit flushes what it promises, in order, through the host's flush seam: a blob's
bytes before its rename and its directory after; a layer's filesystem before its row says
committed; a saved archive before it takes its name; the database's promises synced."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cove.content.store import ContentStore
from cove.db.database import Database
from cove.host.atomic import atomic_output
from cove.host.runner import RunResult
from cove.images.store import ImageStore
from cove.oci.digest import Digest
from cove.snapshots.copy import CopySnapshotter


class RecordingFlush:
    """The flush seam, recording each call and what ``check`` saw at that moment."""

    def __init__(self, check: Callable[[str, str], object] = lambda kind, path: None) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.check = check

    def _record(self, kind: str, path: str) -> None:
        self.calls.append((kind, path, self.check(kind, path)))

    def file(self, fd: int) -> None:
        self._record("file", os.readlink(f"/proc/self/fd/{fd}"))

    def directory(self, path: str | os.PathLike[str]) -> None:
        self._record("directory", os.fspath(path))

    def filesystem(self, path: str | os.PathLike[str]) -> None:
        self._record("filesystem", os.fspath(path))


class NoRunner:
    def run(self, argv: object, **kw: object) -> RunResult:
        raise AssertionError(f"nothing is run here: {argv}")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "cove.db")
    yield database
    database.close()


def test_a_blobs_bytes_are_flushed_before_its_rename_and_its_directory_after(tmp_path: Path) -> None:
    data = b"layer bytes" * 1000
    final = tmp_path / "content" / "blobs" / "sha256" / Digest.of(data).hex
    flush = RecordingFlush(lambda kind, path: final.exists())
    content = ContentStore(tmp_path / "content", flush)
    with content.writer() as w:
        w.write(data)
        w.commit()
    [(k1, p1, visible1), (k2, p2, visible2)] = flush.calls
    assert (k1, visible1) == ("file", False) and p1.startswith(str(content.ingest_dir))
    assert (k2, p2, visible2) == ("directory", str(content.blobs_dir), True)
    assert final.read_bytes() == data


def test_a_finished_download_is_flushed_before_its_rename_and_a_wrong_one_is_not(tmp_path: Path) -> None:
    data = b"downloaded" * 1000
    digest = Digest.of(data)
    final = tmp_path / "content" / "blobs" / "sha256" / digest.hex
    flush = RecordingFlush(lambda kind, path: final.exists())
    content = ContentStore(tmp_path / "content", flush)
    partial = content.partial(digest, len(data))
    partial.append(data)
    partial.commit(digest)
    assert [(k, v) for k, _, v in flush.calls] == [("file", False), ("directory", True)]
    assert flush.calls[0][1] == str(content.ingest_dir / f"partial-{digest.hex}")
    # Wrong bytes are not worth a flush: they are deleted.
    flush.calls.clear()
    other = Digest.of(b"other")
    partial = content.partial(other, 5)
    partial.append(b"wrong")
    with pytest.raises(Exception, match="digest mismatch"):
        partial.commit(Digest.of(b"wrong"))
    assert flush.calls == []


def _kind(db: Database, snapshot_id: int) -> str:
    row = db.query_one("SELECT kind FROM snapshots WHERE id = ?", (snapshot_id,))
    return "gone" if row is None else str(row["kind"])


def test_an_unpacked_layer_is_synced_whole_before_its_row_says_committed(
    tmp_path: Path, db: Database
) -> None:
    holder: dict[str, Any] = {}
    flush = RecordingFlush(lambda kind, path: _kind(db, holder["id"]))
    snapshotter = CopySnapshotter(tmp_path / "snapshots", db, NoRunner(), flush)
    ext = snapshotter.begin(None)
    holder["id"] = ext.id
    for i in range(50):
        (ext.path / f"file{i}").write_text("x")
    ext.commit("sha256:" + "a" * 64, None, size=50)
    # One syncfs for the layer (not one per file), while its row still says "preparing".
    assert flush.calls == [("filesystem", str(ext.path), "preparing")]
    assert _kind(db, ext.id) == "committed"


def test_a_writable_snapshot_committed_in_place_is_synced_before_its_row(
    tmp_path: Path, db: Database
) -> None:
    holder: dict[str, Any] = {}
    flush = RecordingFlush(lambda kind, path: _kind(db, holder["id"]))
    snapshotter = CopySnapshotter(tmp_path / "snapshots", db, NoRunner(), flush)
    snapshotter.prepare("build-1", None)
    holder["id"] = snapshotter.require("build-1").id
    (snapshotter.fs(holder["id"]) / "made-by-run").write_text("x")
    snapshotter.commit_active("build-1", "sha256:" + "b" * 64)
    assert flush.calls == [("filesystem", str(snapshotter.fs(holder["id"])), "active")]
    assert _kind(db, holder["id"]) == "committed"


@pytest.mark.parametrize("directory", [False, True])
def test_a_saved_archive_is_flushed_before_it_takes_its_name(tmp_path: Path, directory: bool) -> None:
    target = tmp_path / "out" / "image.tar"
    target.parent.mkdir()
    flush = RecordingFlush(lambda kind, path: target.exists())
    with atomic_output(target, directory=directory, flush=flush) as tmp:
        if directory:
            (tmp / "index.json").write_text("{}")
        else:
            tmp.write_bytes(b"archive")
    first, (kind, path, named) = flush.calls
    assert first[0] == ("filesystem" if directory else "file") and first[2] is False
    assert first[1].startswith(str(target.parent / ".image.tar.cove-"))
    assert (kind, path, named) == ("directory", str(target.parent), True)


class RecordingDatabase(Database):
    def __init__(self, path: Path) -> None:
        self.durable: list[bool] = []
        super().__init__(path)

    def transaction(self, *, durable: bool = False) -> Any:
        self.durable.append(durable)
        return super().transaction(durable=durable)


def test_what_the_image_store_promises_is_a_durable_transaction(tmp_path: Path) -> None:
    db = RecordingDatabase(tmp_path / "cove.db")
    try:
        images = ImageStore(db, ContentStore(tmp_path / "content", RecordingFlush()))
        digest = Digest.of(b"config")
        db.durable.clear()
        images.add(config_digest=digest, manifest_digest=digest, media_type="x", size=0, created=None)
        images.delete(digest)
        assert db.durable == [True, True]
    finally:
        db.close()


def test_a_durable_transaction_syncs_the_wal_and_the_others_do_not(db: Database) -> None:
    def level(tx: Any) -> int:
        return int(tx.execute("PRAGMA synchronous").fetchone()[0])

    with db.transaction() as tx:
        assert level(tx) == 1  # NORMAL: atomic, survives kill -9; the WAL is synced at checkpoints
    with db.transaction(durable=True) as tx:
        assert level(tx) == 2  # FULL: the WAL is synced at this commit
    with db.transaction() as tx:
        assert level(tx) == 1
        with db.transaction(durable=True):  # joins the outer one, which then syncs on commit
            pass
    assert db.query_one("PRAGMA synchronous")[0] == 1  # type: ignore[index]

"""What both snapshotters share: snapshot rows in SQLite, one directory per snapshot.

On disk each snapshot is ``snapshots/<id>/fs`` (its files) and whatever else its
implementation keeps beside it (overlayfs's ``work`` directory). Short numeric ids keep
overlay mount options short. A snapshot's row and its directory are made and removed in
an order that a crash at any point leaves only what :meth:`clean_leftovers` removes.
"""

from __future__ import annotations

import abc
import os
import secrets
import time
from collections.abc import Set
from pathlib import Path

from cove.db.database import Database
from cove.errors import AlreadyExists, Conflict, CoveError
from cove.host.flush import Flush, Flusher
from cove.host.runner import Runner
from cove.host.trees import OnFailure, remove_quietly, remove_tree
from cove.oci.layer import WhiteoutMode
from cove.oci.mount import Mount
from cove.snapshots.changes import Change
from cove.snapshots.snapshotter import Extraction, LayerWriter, SnapshotInfo, SnapshotNotFound
from cove.snapshots.usage import disk_usage


def has_snapshots(db: Database) -> bool:
    """Whether the store holds any snapshot (its snapshotter cannot change then)."""
    return db.query_one("SELECT 1 FROM snapshots LIMIT 1") is not None


def _info(row: object) -> SnapshotInfo:
    r = row  # sqlite3.Row
    return SnapshotInfo(r["id"], r["key"], r["parent_id"], r["kind"], r["created"], r["size"], r["usage"])  # type: ignore[index]


class SnapshotDirectories(abc.ABC):
    """The shared part of a snapshotter; an implementation says how a snapshot's directory
    is filled (:meth:`_fill`), made writable (:meth:`_make_writable`) and measured."""

    driver = ""
    whiteout_mode: WhiteoutMode

    def __init__(self, root: Path, db: Database, runner: Runner, flush: Flush | None = None) -> None:
        self.root = root
        self.db = db
        self.runner = runner
        self.flush: Flush = flush or Flusher()
        self.root.mkdir(parents=True, exist_ok=True)

    def dir(self, snapshot_id: int) -> Path:
        return self.root / str(snapshot_id)

    def fs(self, snapshot_id: int) -> Path:
        return self.root / str(snapshot_id) / "fs"

    # -- what an implementation says -----------------------------------------------------

    @abc.abstractmethod
    def _begin_from(self, parent: str | None) -> SnapshotInfo | None:
        """The parent whose files a new layer's directory starts from, if any."""

    @abc.abstractmethod
    def _fill(self, snapshot_id: int, parent: SnapshotInfo | None) -> None:
        """Make the new layer's ``fs`` over ``parent`` (as :meth:`_begin_from` gave it)."""

    @abc.abstractmethod
    def _make_writable(self, snapshot_id: int, parent: SnapshotInfo | None) -> None:
        """Make a writable snapshot's ``fs`` (and what goes beside it) over ``parent``."""

    def _committed_usage(self, path: Path, counted: int | None) -> int:
        """Bytes on disk of a layer filled in ``path``; ``counted`` when its filler counted them."""
        return disk_usage(path)[0] if counted is None else counted

    def _drop_scratch(self, snapshot_id: int) -> None:
        """Remove what a writable snapshot kept beside its files, before it is committed."""
        return  # nothing, unless the implementation keeps something there

    @property
    @abc.abstractmethod
    def layers_independent(self) -> bool: ...

    @abc.abstractmethod
    def mounts(self, key: str) -> list[Mount]: ...

    @abc.abstractmethod
    def changes(self, key: str, points: Set[str]) -> list[Change]: ...

    @abc.abstractmethod
    def parent_trees(self, key: str) -> list[Path]: ...

    @abc.abstractmethod
    def write_diff(self, key: str, out: LayerWriter, points: Set[str]) -> None: ...

    # -- queries -------------------------------------------------------------------------

    def get(self, key: str) -> SnapshotInfo | None:
        row = self.db.query_one("SELECT * FROM snapshots WHERE key = ? AND kind != 'preparing'", (key,))
        return None if row is None else _info(row)

    def require(self, key: str) -> SnapshotInfo:
        info = self.get(key)
        if info is None:
            raise SnapshotNotFound(key)
        return info

    def by_id(self, snapshot_id: int) -> SnapshotInfo:
        row = self.db.query_one("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
        if row is None:
            raise SnapshotNotFound(f"#{snapshot_id}")
        return _info(row)

    def all(self) -> list[SnapshotInfo]:
        return [_info(r) for r in self.db.query("SELECT * FROM snapshots WHERE kind != 'preparing'")]

    def chain(self, key: str) -> list[SnapshotInfo]:
        out = [self.require(key)]
        while out[-1].parent_id is not None:
            out.append(self.by_id(out[-1].parent_id))
        return out

    def writable_keys(self, prefix: str = "") -> list[str]:
        rows = self.db.query("SELECT key FROM snapshots WHERE kind = 'active'")
        return sorted(r["key"] for r in rows if r["key"].startswith(prefix))

    def usage(self, key: str) -> tuple[int, int]:
        info = self.require(key)
        if info.kind == "committed":
            return info.usage, info.size
        return disk_usage(self.dir(info.id))

    # -- layers (committed snapshots) ----------------------------------------------------

    def begin(self, parent: str | None) -> Extraction:
        parent_info = self._begin_from(parent)
        key = f"preparing-{secrets.token_hex(12)}"
        with self.db.transaction() as tx:
            cur = tx.execute(
                "INSERT INTO snapshots(key, parent_id, kind, created) VALUES (?, NULL, 'preparing', ?)",
                (key, time.time()),
            )
            snapshot_id = int(cur.lastrowid or 0)
        try:
            self.dir(snapshot_id).mkdir()
            self._fill(snapshot_id, parent_info)
        except BaseException as exc:
            try:
                self.remove_unfinished(snapshot_id)
            except Exception as again:  # the first failure is the one to report
                exc.add_note(f"while removing the unfinished snapshot: {again}")
            raise
        return Extraction(self, snapshot_id, self.fs(snapshot_id))

    def commit_extraction(
        self, ext: Extraction, key: str, parent: str | None, *, size: int, usage: int | None
    ) -> SnapshotInfo:
        usage = self._committed_usage(ext.path, usage)
        # Its files are on disk before its row says it is committed: one syncfs per layer.
        self.flush.filesystem(ext.path)
        with self.db.transaction() as tx:
            existing = tx.execute("SELECT * FROM snapshots WHERE key = ?", (key,)).fetchone()
            if existing is None:
                parent_id = None
                if parent is not None:
                    row = tx.execute(
                        "SELECT id FROM snapshots WHERE key = ? AND kind = 'committed'", (parent,)
                    ).fetchone()
                    if row is None:
                        raise SnapshotNotFound(parent)
                    parent_id = row["id"]
                tx.execute(
                    "UPDATE snapshots SET key = ?, parent_id = ?, kind = 'committed', size = ?, usage = ? "
                    "WHERE id = ?",
                    (key, parent_id, size, usage, ext.id),
                )
                return self.by_id(ext.id)
        # Someone else unpacked the same layer meanwhile: theirs stands, ours goes.
        self.remove_unfinished(ext.id)
        return _info(existing)

    # -- writable snapshots --------------------------------------------------------------

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        parent_info = self.require(parent) if parent is not None else None
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key} already exists")
            cur = tx.execute(
                "INSERT INTO snapshots(key, parent_id, kind, created) VALUES (?, ?, 'active', ?)",
                (key, parent_info.id if parent_info else None, time.time()),
            )
            snapshot_id = int(cur.lastrowid or 0)
        try:
            self.dir(snapshot_id).mkdir()
            self._make_writable(snapshot_id, parent_info)
            return self.mounts(key)  # (refused for a chain too long to mount: nothing stays)
        except BaseException:
            self.remove_by_id(snapshot_id)
            raise

    def commit_active(self, key: str, new_key: str) -> SnapshotInfo:
        """Turn the writable snapshot ``key`` into the committed layer ``new_key``, in place:
        its directory holds what the layer holds (an overlay upper directory is a layer's
        diff, a copy is a whole tree), so nothing is unpacked again. If ``new_key`` exists
        already (the same change made before), that one stands and this one goes."""
        info = self.require(key)
        if info.kind != "active":
            raise Conflict(f"snapshot {key} is not a writable snapshot")
        self._drop_scratch(info.id)
        usage, size = disk_usage(self.fs(info.id))
        self.flush.filesystem(self.fs(info.id))  # the layer's files before its committed row
        with self.db.transaction() as tx:
            existing = tx.execute("SELECT * FROM snapshots WHERE key = ?", (new_key,)).fetchone()
            if existing is None:
                tx.execute(
                    "UPDATE snapshots SET key = ?, kind = 'committed', size = ?, usage = ? WHERE id = ?",
                    (new_key, size, usage, info.id),
                )
                return self.by_id(info.id)
        self.remove_by_id(info.id)
        return _info(existing)

    # -- removal and cleanup -------------------------------------------------------------

    def remove(self, key: str) -> None:
        info = self.require(key)
        children = self.db.query("SELECT key FROM snapshots WHERE parent_id = ?", (info.id,))
        if children:
            raise Conflict(f"snapshot {key} has dependent snapshots: {children[0]['key']}")
        self.remove_by_id(info.id)

    def remove_by_id(self, snapshot_id: int) -> None:
        self.remove_all([snapshot_id])

    def remove_all(self, snapshot_ids: list[int]) -> None:
        """Rows first, then the directories: a crash in between leaves orphan directories,
        which cleanup finds; the reverse would leave rows without files. The deletions are
        made durable first (one sync for all of them), or a power loss could bring rows
        back whose files are gone."""
        if not snapshot_ids:
            return
        with self.db.transaction(durable=True) as tx:
            for snapshot_id in snapshot_ids:
                tx.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))
        for snapshot_id in snapshot_ids:
            self._discard_dir(self.dir(snapshot_id))

    def remove_unfinished(self, snapshot_id: int) -> None:
        """Remove a ``preparing`` snapshot: files first, then the row. Nobody sees such a
        row, so a crash in between only leaves a row for cleanup; and on a full disk the
        files are what must go first, for the database to have room to delete the row."""
        self._discard_dir(self.dir(snapshot_id))
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM snapshots WHERE id = ? AND kind = 'preparing'", (snapshot_id,))

    def _discard_dir(self, path: Path) -> None:
        if not path.exists():
            return
        trash = self.root / f"trash-{path.name}-{secrets.token_hex(4)}"
        os.rename(path, trash)
        # What cannot go now (a mount point inside, say) stays in the trash: the store's
        # cleanup tries again and reports it; the snapshot is gone either way.
        remove_quietly(trash)

    def clean_leftovers(self, failed: OnFailure) -> int:
        """A leftover that cannot be removed is reported to ``failed``, and the others still go."""
        removed = 0
        for row in self.db.query("SELECT id FROM snapshots WHERE kind = 'preparing'"):
            try:
                self.remove_unfinished(row["id"])
            except (OSError, CoveError) as exc:
                failed(self.dir(row["id"]), exc)
            removed += 1
        known = {str(r["id"]) for r in self.db.query("SELECT id FROM snapshots")}
        for entry in os.scandir(self.root):
            if entry.name.startswith("trash-") or (entry.name.isdigit() and entry.name not in known):
                try:
                    remove_tree(entry.path)
                    removed += 1
                except OSError as exc:
                    failed(Path(entry.path), exc)
        return removed

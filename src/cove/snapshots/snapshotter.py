"""The snapshotter: snapshot rows in SQLite, snapshot directories on disk, mounts as data.

On disk each snapshot is ``snapshots/<id>/fs`` (its files) and, for active overlay
snapshots, ``snapshots/<id>/work`` (overlayfs's work directory). Short numeric ids keep
overlay mount options short. Rows go through three kinds:

* ``preparing``: a layer being unpacked; invisible to readers, removed by cleanup if its
  writer died;
* ``committed``: a finished, read-only layer, keyed by its chainID;
* ``active``: a writable snapshot (a container's upper layer) over a committed parent.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cove.db.database import Database
from cove.errors import AlreadyExists, Conflict, CoveError, InvalidArgument, NotFound
from cove.host.flush import Flush, Flusher
from cove.host.runner import Runner
from cove.host.trees import OnFailure, remove_quietly, remove_tree
from cove.oci.mount import Mount
from cove.snapshots.usage import disk_usage

OVERLAY = "overlayfs"
COPY = "copy"
DRIVERS = (OVERLAY, COPY)
MAX_MOUNT_DATA = 4000  # the kernel takes one page of mount options


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    key: str
    parent_id: int | None
    kind: str
    created: float
    size: int
    usage: int


class SnapshotNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key} does not exist")


def _info(row: object) -> SnapshotInfo:
    r = row  # sqlite3.Row
    return SnapshotInfo(r["id"], r["key"], r["parent_id"], r["kind"], r["created"], r["size"], r["usage"])  # type: ignore[index]


class Extraction:
    """A snapshot being filled (a layer being unpacked); commit or abort it."""

    def __init__(self, snapshotter: Snapshotter, snapshot_id: int, path: Path) -> None:
        self._s = snapshotter
        self.id = snapshot_id
        self.path = path  # the directory to fill
        self.done = False

    def commit(self, key: str, parent: str | None, *, size: int, usage: int | None = None) -> SnapshotInfo:
        """Publish under ``key``; if another writer got there first, keep theirs."""
        info = self._s.commit_extraction(self, key, parent, size=size, usage=usage)
        self.done = True
        return info

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self._s.remove_unfinished(self.id)


def any_snapshots(db: Database) -> bool:
    """Whether the store holds any snapshot (its storage driver is then fixed)."""
    return db.query_one("SELECT 1 FROM snapshots LIMIT 1") is not None


class Snapshotter:
    def __init__(
        self, root: Path, db: Database, driver: str, runner: Runner, flush: Flush | None = None
    ) -> None:
        if driver not in DRIVERS:
            raise InvalidArgument(f"unknown snapshot driver {driver!r}")
        self.root = root
        self.db = db
        self.driver = driver
        self.runner = runner
        self.flush: Flush = flush or Flusher()
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def layers_independent(self) -> bool:
        """True when layers can be unpacked side by side (each holds only its own diff)."""
        return self.driver == OVERLAY

    def dir(self, snapshot_id: int) -> Path:
        return self.root / str(snapshot_id)

    def fs(self, snapshot_id: int) -> Path:
        return self.root / str(snapshot_id) / "fs"

    # -- queries ---------------------------------------------------------------------

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

    def active_keys(self, prefix: str) -> list[str]:
        """Keys of the writable (active) snapshots whose key starts with ``prefix``."""
        rows = self.db.query(
            "SELECT key FROM snapshots WHERE kind = 'active' AND substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return [r["key"] for r in rows]

    def chain(self, key: str) -> list[SnapshotInfo]:
        """``key`` and its ancestors, top first."""
        out = [self.require(key)]
        while out[-1].parent_id is not None:
            out.append(self.by_id(out[-1].parent_id))
        return out

    # -- layers (committed snapshots) ------------------------------------------------

    def begin(self, parent: str | None) -> Extraction:
        """Start a new snapshot to unpack a layer into.

        With the copy driver the directory starts as a copy of ``parent``'s files; with
        overlayfs it starts empty and the parent is named only at commit.
        """
        parent_info = self.require(parent) if parent is not None else None
        key = f"preparing-{secrets.token_hex(12)}"
        with self.db.transaction() as tx:
            cur = tx.execute(
                "INSERT INTO snapshots(key, parent_id, kind, created) VALUES (?, NULL, 'preparing', ?)",
                (key, time.time()),
            )
            snapshot_id = int(cur.lastrowid or 0)
        fs = self.fs(snapshot_id)
        try:
            fs.parent.mkdir()
            if self.driver == COPY and parent_info is not None:
                self._copy_tree(self.fs(parent_info.id), fs)
            else:
                fs.mkdir(0o755)
        except BaseException as exc:
            try:
                self.remove_unfinished(snapshot_id)
            except Exception as again:  # the first failure is the one to report
                exc.add_note(f"while removing the unfinished snapshot: {again}")
            raise
        return Extraction(self, snapshot_id, fs)

    def _copy_tree(self, src: Path, dst: Path) -> None:
        # cp keeps hard links, devices, xattrs and ownership, and reflinks where it can.
        self.runner.run(["cp", "-a", "--reflink=auto", "--", str(src), str(dst)])

    def commit_extraction(
        self, ext: Extraction, key: str, parent: str | None, *, size: int, usage: int | None
    ) -> SnapshotInfo:
        if usage is None:
            usage = disk_usage(ext.path)[0]
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

    # -- containers (active snapshots) -----------------------------------------------

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        """A writable snapshot over ``parent``; returns the mounts that show it."""
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
            if self.driver == COPY and parent_info is not None:
                self._copy_tree(self.fs(parent_info.id), self.fs(snapshot_id))
            else:
                self.fs(snapshot_id).mkdir(0o755)
                if self.driver == OVERLAY:
                    (self.dir(snapshot_id) / "work").mkdir(0o700)
        except BaseException:
            self.remove_by_id(snapshot_id)
            raise
        return self.mounts(key)

    def commit_active(self, key: str, new_key: str) -> SnapshotInfo:
        """Turn the writable snapshot ``key`` into the committed layer ``new_key``, in place.

        Its directory then holds what the layer holds (an overlay upper directory is a
        layer's diff, a copy is a whole tree), so nothing is unpacked again. If ``new_key``
        exists already (the same change made before), that one stands and this one goes."""
        info = self.require(key)
        if info.kind != "active":
            raise Conflict(f"snapshot {key} is not a writable snapshot")
        remove_quietly(self.dir(info.id) / "work")  # overlayfs's scratch space; the snapshot goes on
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

    def mounts(self, key: str) -> list[Mount]:
        """How to mount snapshot ``key``: writable if active, read-only if committed."""
        chain = self.chain(key)
        top = chain[0]
        options: tuple[str, ...]
        if top.kind == "active":
            if self.driver == COPY or len(chain) == 1:
                return [Mount("bind", str(self.fs(top.id)), ("rbind", "rw"))]
            lower = ":".join(str(self.fs(s.id)) for s in chain[1:])
            options = (
                f"lowerdir={lower}",
                f"upperdir={self.fs(top.id)}",
                f"workdir={self.dir(top.id) / 'work'}",
            )
        else:
            if self.driver == COPY or len(chain) == 1:
                return [Mount("bind", str(self.fs(top.id)), ("rbind", "ro"))]
            options = ("lowerdir=" + ":".join(str(self.fs(s.id)) for s in chain),)
        if sum(len(o) + 1 for o in options) > MAX_MOUNT_DATA:
            raise InvalidArgument(
                f"snapshot {key} has too many layers ({len(chain)}) for one overlay mount",
                hint="squash the image into fewer layers",
            )
        return [Mount("overlay", "overlay", options)]

    def usage(self, key: str) -> tuple[int, int]:
        """(bytes on disk, content bytes) of the snapshot's own directory."""
        info = self.require(key)
        if info.kind == "committed":
            return info.usage, info.size
        return disk_usage(self.dir(info.id))

    # -- removal and cleanup ---------------------------------------------------------

    def remove(self, key: str) -> None:
        info = self.require(key)
        children = self.db.query("SELECT key FROM snapshots WHERE parent_id = ?", (info.id,))
        if children:
            raise Conflict(f"snapshot {key} has dependent snapshots: {children[0]['key']}")
        self.remove_by_id(info.id)

    def remove_by_id(self, snapshot_id: int) -> None:
        self.remove_all([snapshot_id])

    def remove_all(self, snapshot_ids: list[int]) -> None:
        """Remove snapshots (children before their parents, in the order given).

        Rows first, then the directories: a crash in between leaves orphan directories,
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
        """Remove what interrupted work left; only while no writer can be active. A leftover
        that cannot be removed is reported to ``failed``, and the others still go."""
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

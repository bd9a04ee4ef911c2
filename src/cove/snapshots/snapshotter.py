"""The snapshotter interface: what images, builds and containers ask of layer storage.

A snapshot is a directory tree keyed by a string (a chainID for a layer, a name for a
container's writable layer), with a parent. Three kinds:

* ``preparing``: a layer being filled (unpacked); invisible to readers, removed by
  :meth:`Snapshotter.clean_leftovers` if its writer died;
* ``committed``: a finished, read-only layer, keyed by its chainID;
* ``active``: a writable snapshot (a container's upper layer) over a committed parent.

Snapshots are shown as mounts returned as data (:class:`~cove.oci.mount.Mount`): the caller
mounts them where it needs them. Two implementations (containerd's overlay and native
snapshotters): :class:`~cove.snapshots.overlay.OverlaySnapshotter` and
:class:`~cove.snapshots.copy.CopySnapshotter`; ``engine/bootstrap.py`` picks one. What differs
between them (how a layer is filled, how it is mounted, how its changes are found and written
as a layer) is behind this interface: callers never ask which one they have.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cove.errors import NotFound
from cove.host.trees import OnFailure
from cove.oci.layer import WhiteoutMode
from cove.oci.mount import Mount
from cove.snapshots.changes import Change

OVERLAY = "overlayfs"
COPY = "copy"
DRIVERS = (OVERLAY, COPY)


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    key: str
    parent_id: int | None
    kind: str  # preparing, committed or active
    created: float
    size: int  # bytes of file contents, of a committed snapshot
    usage: int  # bytes on disk, of a committed snapshot


class SnapshotNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key} does not exist")


class LayerWriter(Protocol):
    """Where a snapshot's changes are written as a layer (``archive.treetar.TreeTar``)."""

    def add_tree(
        self, root: str | int, prefix: str = "", *, overlay_whiteouts: bool = False,
        skip: Callable[[str], bool] | None = None,
    ) -> None: ...  # fmt: skip

    def add_at(self, dir_fd: int, entry: str, name: str) -> os.stat_result | None: ...

    def add_empty(self, name: str, mtime: int = 0) -> None: ...


class _Filled(Protocol):
    """What an :class:`Extraction` asks of the snapshotter that made it."""

    def commit_extraction(
        self, ext: Extraction, key: str, parent: str | None, *, size: int, usage: int | None
    ) -> SnapshotInfo: ...

    def remove_unfinished(self, snapshot_id: int) -> None: ...


class Extraction:
    """A snapshot being filled (a layer being unpacked); commit or abort it."""

    def __init__(self, snapshotter: _Filled, snapshot_id: int, path: Path) -> None:
        self._s = snapshotter
        self.id = snapshot_id
        self.path = path  # the directory to fill
        self.done = False

    def commit(self, key: str, parent: str | None, *, size: int, usage: int | None = None) -> SnapshotInfo:
        """Publish under ``key``; if another writer got there first, keep theirs. ``usage`` is
        what the filling wrote on disk, when the filler counted it (the snapshotter may
        measure instead: a copy also holds its parent's files)."""
        info = self._s.commit_extraction(self, key, parent, size=size, usage=usage)
        self.done = True
        return info

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self._s.remove_unfinished(self.id)


class Snapshotter(Protocol):
    driver: str  # the name `cove info` shows: overlayfs or copy
    root: Path
    # How a layer tar's whiteouts are stored when it is unpacked into a snapshot.
    whiteout_mode: WhiteoutMode

    @property
    def layers_independent(self) -> bool:
        """True when layers can be filled side by side (each holds only its own diff, its
        parent named only at commit); else each starts from its parent's files, in order."""
        ...

    def dir(self, snapshot_id: int) -> Path: ...

    def fs(self, snapshot_id: int) -> Path:
        """The snapshot's own files (for a layer, where it is unpacked)."""
        ...

    # -- queries -------------------------------------------------------------------------

    def get(self, key: str) -> SnapshotInfo | None: ...

    def require(self, key: str) -> SnapshotInfo: ...

    def by_id(self, snapshot_id: int) -> SnapshotInfo: ...

    def all(self) -> list[SnapshotInfo]: ...

    def chain(self, key: str) -> list[SnapshotInfo]:
        """``key`` and its ancestors, top first."""
        ...

    def writable_keys(self, prefix: str = "") -> list[str]:
        """The keys of the writable snapshots whose key starts with ``prefix``."""
        ...

    def usage(self, key: str) -> tuple[int, int]:
        """(bytes on disk, content bytes) of the snapshot's own directory."""
        ...

    # -- layers (committed snapshots) ----------------------------------------------------

    def begin(self, parent: str | None) -> Extraction:
        """A new snapshot to fill with the layer above ``parent``."""
        ...

    def commit_extraction(
        self, ext: Extraction, key: str, parent: str | None, *, size: int, usage: int | None
    ) -> SnapshotInfo: ...

    # -- writable snapshots --------------------------------------------------------------

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        """A writable snapshot over ``parent``; returns the mounts that show it."""
        ...

    def commit_active(self, key: str, new_key: str) -> SnapshotInfo:
        """Turn the writable snapshot ``key`` into the committed layer ``new_key``, in place."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """How to mount snapshot ``key``: writable if active, read-only if committed (a view)."""
        ...

    # -- what a writable snapshot changed ------------------------------------------------

    def changes(self, key: str, points: Set[str]) -> list[Change]:
        """What ``key`` changed over its parent, sorted by path; ``points`` (paths the runtime
        mounted over) count only when they were already in the parent."""
        ...

    def parent_trees(self, key: str) -> list[Path]:
        """Directories whose files, together, are what ``key`` started from (a path absent
        from all of them was made in ``key``)."""
        ...

    def write_diff(self, key: str, out: LayerWriter, points: Set[str]) -> None:
        """Write what ``key`` changed over its parent as layer entries (``points`` as for
        :meth:`changes`)."""
        ...

    # -- removal and cleanup -------------------------------------------------------------

    def remove(self, key: str) -> None:
        """Remove a snapshot; refused while other snapshots have it as their parent."""
        ...

    def remove_by_id(self, snapshot_id: int) -> None: ...

    def remove_all(self, snapshot_ids: list[int]) -> None:
        """Remove snapshots, children before their parents, in the order given."""
        ...

    def remove_unfinished(self, snapshot_id: int) -> None: ...

    def clean_leftovers(self, failed: OnFailure) -> int:
        """Remove what interrupted work left; only while no writer can be active."""
        ...

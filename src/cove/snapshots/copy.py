"""The copy snapshotter, for hosts where overlayfs cannot be mounted (containerd's native).

Each snapshot is a full copy of its parent plus its own changes (``cp -a``, reflinked where
the filesystem can), shown by a bind mount; layers are therefore unpacked in order, each
over a copy of its parent, with whiteouts carried out. Its changes are found by comparing
its tree with its parent's.
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from cove.host.trees import Beneath
from cove.oci.layer import WhiteoutMode
from cove.oci.mount import Mount
from cove.snapshots.base import SnapshotDirectories
from cove.snapshots.changes import Change, compare_trees
from cove.snapshots.snapshotter import COPY, LayerWriter, SnapshotInfo
from cove.snapshots.usage import disk_usage

WHITEOUT_PREFIX = ".wh."


class CopySnapshotter(SnapshotDirectories):
    driver = COPY
    whiteout_mode = WhiteoutMode.APPLY

    @property
    def layers_independent(self) -> bool:
        return False

    def _begin_from(self, parent: str | None) -> SnapshotInfo | None:
        return self.require(parent) if parent is not None else None

    def _fill(self, snapshot_id: int, parent: SnapshotInfo | None) -> None:
        if parent is None:
            self.fs(snapshot_id).mkdir(0o755)
        else:
            self._copy_tree(self.fs(parent.id), self.fs(snapshot_id))

    _make_writable = _fill

    def _copy_tree(self, src: Path, dst: Path) -> None:
        # cp keeps hard links, devices, xattrs and ownership, and reflinks where it can.
        self.runner.run(["cp", "-a", "--reflink=auto", "--", str(src), str(dst)])

    def _committed_usage(self, path: Path, counted: int | None) -> int:
        return disk_usage(path)[0]  # the parent's files are in it too: measured whole

    def mounts(self, key: str) -> list[Mount]:
        top = self.require(key)
        return [Mount("bind", str(self.fs(top.id)), ("rbind", "rw" if top.kind == "active" else "ro"))]

    def _parent_fs(self, key: str) -> tuple[Path, Path | None]:
        chain = self.chain(key)
        return self.fs(chain[0].id), self.fs(chain[1].id) if len(chain) > 1 else None

    def changes(self, key: str, points: Set[str]) -> list[Change]:
        top, parent = self._parent_fs(key)
        return compare_trees(top, parent, points)

    def parent_trees(self, key: str) -> list[Path]:
        parent = self._parent_fs(key)[1]
        return [parent] if parent is not None else []

    def write_diff(self, key: str, out: LayerWriter, points: Set[str]) -> None:
        top, parent = self._parent_fs(key)
        with Beneath(top) as tree:
            for change in compare_trees(top, parent, points):
                rel = change.path.lstrip("/")
                head, _, base = rel.rpartition("/")
                if change.kind == "D":
                    out.add_empty(f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base)
                    continue
                # Reached again from the top through real directories only: a running container
                # may have put a link where a directory was listed.
                directory = tree.dir(head)
                if directory is not None:
                    out.add_at(directory, base, rel)

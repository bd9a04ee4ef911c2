"""The overlayfs snapshotter: each snapshot holds only its own changes.

A layer's directory is its diff in the form overlayfs reads (whiteouts as 0/0 character
devices, opaque directories by xattr), so layers are unpacked side by side and each is
mounted as a lower directory; a writable snapshot is an upper directory with its ``work``
directory beside it. Its changes are the upper directory itself.
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from cove.errors import InvalidArgument
from cove.host.trees import remove_quietly
from cove.oci.layer import WhiteoutMode
from cove.oci.mount import Mount
from cove.snapshots.base import SnapshotDirectories
from cove.snapshots.changes import Change, fresh_points, upper_changes
from cove.snapshots.snapshotter import OVERLAY, LayerWriter, SnapshotInfo

MAX_MOUNT_DATA = 4000  # the kernel takes one page of mount options


class OverlaySnapshotter(SnapshotDirectories):
    driver = OVERLAY
    whiteout_mode = WhiteoutMode.OVERLAY

    @property
    def layers_independent(self) -> bool:
        return True

    def _begin_from(self, parent: str | None) -> SnapshotInfo | None:
        return None  # a layer starts empty; its parent is named at commit (it may still be unpacking)

    def _fill(self, snapshot_id: int, parent: SnapshotInfo | None) -> None:
        self.fs(snapshot_id).mkdir(0o755)

    def _make_writable(self, snapshot_id: int, parent: SnapshotInfo | None) -> None:
        self.fs(snapshot_id).mkdir(0o755)
        self._work(snapshot_id).mkdir(0o700)

    def _work(self, snapshot_id: int) -> Path:
        return self.dir(snapshot_id) / "work"

    def _drop_scratch(self, snapshot_id: int) -> None:
        remove_quietly(self._work(snapshot_id))  # overlayfs's scratch space; the snapshot goes on

    def mounts(self, key: str) -> list[Mount]:
        chain = self.chain(key)
        top = chain[0]
        writable = top.kind == "active"
        if len(chain) == 1:
            return [Mount("bind", str(self.fs(top.id)), ("rbind", "rw" if writable else "ro"))]
        options: tuple[str, ...]
        if writable:
            options = (
                "lowerdir=" + ":".join(str(self.fs(s.id)) for s in chain[1:]),
                f"upperdir={self.fs(top.id)}",
                f"workdir={self._work(top.id)}",
            )
        else:
            options = ("lowerdir=" + ":".join(str(self.fs(s.id)) for s in chain),)
        if sum(len(o) + 1 for o in options) > MAX_MOUNT_DATA:
            raise InvalidArgument(
                f"snapshot {key} has too many layers ({len(chain)}) for one overlay mount",
                hint="squash the image into fewer layers",
            )
        return [Mount("overlay", "overlay", options)]

    def changes(self, key: str, points: Set[str]) -> list[Change]:
        chain = self.chain(key)
        return upper_changes(self.fs(chain[0].id), [self.fs(s.id) for s in chain[1:]], points)

    def parent_trees(self, key: str) -> list[Path]:
        return [self.fs(s.id) for s in self.chain(key)[1:]]

    def write_diff(self, key: str, out: LayerWriter, points: Set[str]) -> None:
        top = self.fs(self.require(key).id)
        skipped = set(fresh_points(top, self.parent_trees(key), points))
        out.add_tree(str(top), overlay_whiteouts=True, skip=lambda rel: rel in skipped)

"""What a writable snapshot changed over its parent: as a list (``diff``) or a layer tar.

How the changes are found is the snapshotter's business (an overlay upper directory is the
change set; a copy is compared with its parent's tree): see ``snapshots/changes.py``.

``points`` are paths the runtime mounted over (``/etc/hosts`` and the like): an empty
stub the runtime had to create for one is not a change, but a file that was already in
the image and is mounted over stays whatever it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Set
from typing import BinaryIO

from cove.archive.treetar import TreeTar
from cove.host.trees import Beneath
from cove.snapshots import changes as _changes
from cove.snapshots.snapshotter import Snapshotter

Change = _changes.Change


def changes(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[Change]:
    return snapshotter.changes(key, points)


def fresh_points(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[str]:
    """The mount points the runtime created in the snapshot (absent from every lower layer).
    Looked at through real directories only: the container may have put links on the way."""
    top = snapshotter.fs(snapshotter.require(key).id)
    return _changes.fresh_points(top, snapshotter.parent_trees(key), points)


def remove_stub(snapshotter: Snapshotter, key: str, rel: str) -> None:
    """Remove the empty file or directory ``rel`` of the snapshot (one :func:`fresh_points`
    named), reached through real directories only."""
    head, _, base = rel.rpartition("/")
    with Beneath(snapshotter.fs(snapshotter.require(key).id)) as upper:
        parent = upper.dir(head)
        if parent is None:
            return
        if stat.S_ISDIR(os.stat(base, dir_fd=parent, follow_symlinks=False).st_mode):
            os.rmdir(base, dir_fd=parent)
        else:
            os.unlink(base, dir_fd=parent)


def write_layer(snapshotter: Snapshotter, key: str, out: BinaryIO, points: Set[str]) -> int:
    """Write the snapshot's changes as an OCI layer tar; returns how many entries it holds."""
    tar = TreeTar(out)
    snapshotter.write_diff(key, tar, points)
    count = tar.count
    tar.close()
    return count

"""What a writable snapshot changed over its parent: as a list (``diff``) or a layer tar.

With overlayfs the upper directory *is* the change set (whiteouts and opaque directories
included); with the copy driver the full tree is compared with the parent's.

``points`` are paths the runtime mounted over (``/etc/hosts`` and the like): an empty
stub the runtime had to create for one is not a change, but a file that was already in
the image and is mounted over stays whatever it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Set
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cove.archive.treetar import TreeTar
from cove.errors import InvalidArgument
from cove.host.trees import Beneath, Entry, walk
from cove.snapshots.snapshotter import OVERLAY, Snapshotter

# Longer paths than the kernel takes in one call are refused, not listed: they bound the
# memory a listing takes (a container can nest directories a million levels deep).
MAX_PATH = 4096


@dataclass(frozen=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted
    path: str


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class PathTooLong(InvalidArgument):
    def __init__(self, rel: str) -> None:
        super().__init__(
            f"cannot list the changes: a path is longer than {MAX_PATH} bytes: /{rel[:80]}...",
            hint="remove the deeply nested directories first",
        )


def _walk(top: Path) -> Iterator[Entry]:
    for entry in walk(top):
        if len(entry.rel) >= MAX_PATH:
            raise PathTooLong(entry.rel)
        yield entry


def changes(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[Change]:
    chain = snapshotter.chain(key)
    top = snapshotter.fs(chain[0].id)
    if snapshotter.driver != OVERLAY:
        parent = snapshotter.fs(chain[1].id) if len(chain) > 1 else None
        return sorted(compare_trees(top, parent, points), key=lambda c: c.path)
    lowers = [Beneath(snapshotter.fs(s.id)) for s in chain[1:]]

    def in_lower(rel: str) -> bool:
        for lower in lowers:
            st = lower.lstat(rel)
            if st is not None:
                # a whiteout higher up hides what is below
                return not _is_whiteout(st)
        return False

    out: list[Change] = []
    try:
        for entry in _walk(top):
            rel = entry.rel
            if _is_whiteout(entry.stat):
                out.append(Change("D", "/" + rel))
            elif rel in points and not in_lower(rel):
                continue
            else:
                out.append(Change("C" if in_lower(rel) else "A", "/" + rel))
    finally:
        for lower in lowers:
            lower.close()
    return sorted(out, key=lambda c: c.path)


def fresh_points(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[str]:
    """The mount points the runtime created in the snapshot (absent from every lower layer).
    Looked at through real directories only: the container may have put links on the way."""
    chain = snapshotter.chain(key)
    top = snapshotter.fs(chain[0].id)
    lowers = [snapshotter.fs(s.id) for s in chain[1:]]
    if snapshotter.driver != OVERLAY:
        lowers = lowers[:1]
    with Beneath(top) as upper:
        views = [Beneath(low) for low in lowers]
        try:
            return [
                rel
                for rel in sorted(points)
                if _empty_stub(upper, rel) and not any(view.exists(rel) for view in views)
            ]
        finally:
            for view in views:
                view.close()


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


def _empty_stub(upper: Beneath, rel: str) -> bool:
    st = upper.lstat(rel)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        directory = upper.dir(rel)
        return directory is not None and not os.listdir(directory)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def write_layer(snapshotter: Snapshotter, key: str, out: BinaryIO, points: Set[str]) -> int:
    """Write the snapshot's changes as an OCI layer tar; returns how many entries it holds."""
    chain = snapshotter.chain(key)
    top = str(snapshotter.fs(chain[0].id))
    skipped = set(fresh_points(snapshotter, key, points))
    tar = TreeTar(out)
    if snapshotter.driver == OVERLAY:
        tar.add_tree(top, overlay_whiteouts=True, skip=lambda rel: rel in skipped)
    else:
        parent = snapshotter.fs(chain[1].id) if len(chain) > 1 else None
        with Beneath(top) as tree:
            for change in compare_trees(Path(top), parent, points):
                rel = change.path.lstrip("/")
                head, _, base = rel.rpartition("/")
                if change.kind == "D":
                    tar.add_empty(f"{head}/.wh.{base}" if head else f".wh.{base}")
                    continue
                # Reached again from the top through real directories only: a running container
                # may have put a link where a directory was listed.
                directory = tree.dir(head)
                if directory is not None:
                    tar.add_at(directory, base, rel)
    count = tar.count
    tar.close()
    return count


def compare_trees(top: Path, parent: Path | None, points: Set[str]) -> list[Change]:
    """Changes of a full copy (the copy driver) against its parent's tree."""
    out = []
    seen = set()
    with Beneath(parent if parent is not None else top) as other_tree:
        for entry in _walk(top):
            rel = entry.rel
            seen.add(rel)
            if rel in points:
                continue
            st = entry.stat
            ost = other_tree.lstat(rel) if parent is not None else None
            if ost is None:
                out.append(Change("A", "/" + rel))
                continue
            same = (
                st.st_mode == ost.st_mode
                and st.st_uid == ost.st_uid
                and st.st_gid == ost.st_gid
                and (
                    stat.S_ISDIR(st.st_mode)
                    or (st.st_size == ost.st_size and st.st_mtime_ns == ost.st_mtime_ns)
                )
            )
            if not same:
                out.append(Change("C", "/" + rel))
    if parent is not None:
        # Only what is gone is listed, not what it held (a directory's deletion says it all).
        for entry in walk(parent, descend=lambda e: e.rel in seen):
            if entry.rel not in seen:
                out.append(Change("D", "/" + entry.rel))
    return out

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
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cove.archive.treetar import TreeTar
from cove.host.inroot import DIRECTORY_FLAGS, PathEscape, open_beneath, opened
from cove.snapshots.snapshotter import OVERLAY, Snapshotter


@dataclass(frozen=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted
    path: str


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def changes(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[Change]:
    chain = snapshotter.chain(key)
    top = snapshotter.fs(chain[0].id)
    if snapshotter.driver != OVERLAY:
        parent = snapshotter.fs(chain[1].id) if len(chain) > 1 else None
        return sorted(compare_trees(top, parent, points), key=lambda c: c.path)
    lowers = [snapshotter.fs(s.id) for s in chain[1:]]

    def in_lower(rel: str) -> bool:
        for lower in lowers:
            st = _lstat_beneath(lower, rel)
            if st is None:
                continue
            # a whiteout higher up hides what is below
            return not _is_whiteout(st)
        return False

    out: list[Change] = []
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(os.path.join(dirpath, name))
            if _is_whiteout(st):
                out.append(Change("D", "/" + rel))
            elif rel in points and not in_lower(rel):
                continue
            else:
                out.append(Change("C" if in_lower(rel) else "A", "/" + rel))
    return sorted(out, key=lambda c: c.path)


def fresh_points(snapshotter: Snapshotter, key: str, points: Set[str]) -> list[str]:
    """The mount points the runtime created in the snapshot (absent from every lower layer).
    Looked at through real directories only: the container may have put links on the way."""
    chain = snapshotter.chain(key)
    top = snapshotter.fs(chain[0].id)
    lowers = [snapshotter.fs(s.id) for s in chain[1:]]
    if snapshotter.driver != OVERLAY:
        lowers = lowers[:1]
    return [
        rel
        for rel in sorted(points)
        if _empty_stub(top, rel) and not any(_lstat_beneath(low, rel) is not None for low in lowers)
    ]


def remove_stub(snapshotter: Snapshotter, key: str, rel: str) -> None:
    """Remove the empty file or directory ``rel`` of the snapshot (one :func:`fresh_points` named)."""
    top = snapshotter.fs(snapshotter.require(key).id)
    head, _, base = rel.rpartition("/")
    with opened(os.open(top, DIRECTORY_FLAGS)) as top_fd, opened(open_beneath(top_fd, head)) as parent:
        st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(base, dir_fd=parent)
        else:
            os.unlink(base, dir_fd=parent)


def _lstat_beneath(top: Path, rel: str) -> os.stat_result | None:
    """``rel``'s own status under ``top``, reached through real directories only (None if not)."""
    head, _, base = rel.rpartition("/")
    try:
        with opened(os.open(top, DIRECTORY_FLAGS)) as top_fd, opened(open_beneath(top_fd, head)) as parent:
            return os.stat(base, dir_fd=parent, follow_symlinks=False)
    except (OSError, PathEscape):
        return None


def _empty_stub(top: Path, rel: str) -> bool:
    st = _lstat_beneath(top, rel)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        try:
            with (
                opened(os.open(top, DIRECTORY_FLAGS)) as top_fd,
                opened(open_beneath(top_fd, rel)) as directory,
            ):
                return not os.listdir(directory)
        except (OSError, PathEscape):
            return False
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
        with opened(os.open(top, DIRECTORY_FLAGS)) as top_fd:
            for change in compare_trees(Path(top), parent, points):
                rel = change.path.lstrip("/")
                head, _, base = rel.rpartition("/")
                if change.kind == "D":
                    tar.add_empty(f"{head}/.wh.{base}" if head else f".wh.{base}")
                    continue
                # Reached again from the top through real directories only: a running container
                # may have put a link where a directory was listed.
                try:
                    directory = open_beneath(top_fd, head)
                except (OSError, PathEscape):
                    continue
                with opened(directory):
                    tar.add_at(directory, base, rel)
    count = tar.count
    tar.close()
    return count


def compare_trees(top: Path, parent: Path | None, points: Set[str]) -> list[Change]:
    """Changes of a full copy (the copy driver) against its parent's tree."""
    out = []
    seen = set()
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            seen.add(rel)
            if rel in points:
                continue
            st = os.lstat(os.path.join(dirpath, name))
            other = parent / rel if parent else None
            if other is None or not os.path.lexists(other):
                out.append(Change("A", "/" + rel))
                continue
            ost = os.lstat(other)
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
        for dirpath, dirnames, filenames in os.walk(parent):
            rel_dir = os.path.relpath(dirpath, parent)
            for name in dirnames + filenames:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel not in seen and os.path.dirname(rel) in seen | {""}:
                    out.append(Change("D", "/" + rel))
    return out

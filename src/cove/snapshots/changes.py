"""What a writable snapshot changed over its parent, found in the two forms snapshots take.

An overlay upper directory *is* the change set (whiteouts and opaque directories included),
read against the lower directories; a full copy is compared with its parent's tree.

``points`` are paths the runtime mounted over (``/etc/hosts`` and the like): an empty stub
the runtime had to create for one is not a change, but a file that was already in the image
and is mounted over stays whatever it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from cove.errors import InvalidArgument
from cove.host.trees import Beneath, Entry, walk

# Longer paths than the kernel takes in one call are refused, not listed: they bound the
# memory a listing takes (a container can nest directories a million levels deep).
MAX_PATH = 4096


@dataclass(frozen=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted
    path: str


class PathTooLong(InvalidArgument):
    def __init__(self, rel: str) -> None:
        super().__init__(
            f"cannot list the changes: a path is longer than {MAX_PATH} bytes: /{rel[:80]}...",
            hint="remove the deeply nested directories first",
        )


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's whiteout: a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def walk_bounded(top: Path) -> Iterator[Entry]:
    for entry in walk(top):
        if len(entry.rel) >= MAX_PATH:
            raise PathTooLong(entry.rel)
        yield entry


def upper_changes(upper: Path, lowers: Sequence[Path], points: Set[str]) -> list[Change]:
    """The changes an overlay upper directory holds over its lower directories (top first)."""
    views = [Beneath(lower) for lower in lowers]

    def in_lower(rel: str) -> bool:
        for view in views:
            st = view.lstat(rel)
            if st is not None:
                # a whiteout higher up hides what is below
                return not is_whiteout(st)
        return False

    out: list[Change] = []
    try:
        for entry in walk_bounded(upper):
            rel = entry.rel
            if is_whiteout(entry.stat):
                out.append(Change("D", "/" + rel))
            elif rel in points and not in_lower(rel):
                continue
            else:
                out.append(Change("C" if in_lower(rel) else "A", "/" + rel))
    finally:
        for view in views:
            view.close()
    return sorted(out, key=lambda c: c.path)


def compare_trees(top: Path, parent: Path | None, points: Set[str]) -> list[Change]:
    """Changes of a full copy against its parent's tree, sorted by path (a directory before
    what is in it)."""
    out = []
    seen = set()
    with Beneath(parent if parent is not None else top) as other_tree:
        for entry in walk_bounded(top):
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
    # A directory something changed in is changed too (as an overlay upper directory holds
    # it, and as Docker's own tree comparison lists it): its entry keeps its owner and mode.
    listed = {c.path for c in out}
    for change in list(out):
        head = change.path.rpartition("/")[0]
        while head and head not in listed:
            listed.add(head)
            out.append(Change("C", head))
            head = head.rpartition("/")[0]
    return sorted(out, key=lambda c: c.path)


def fresh_points(top: Path, parents: Sequence[Path], points: Set[str]) -> list[str]:
    """The mount points the runtime created in ``top`` (empty, and absent from every parent
    tree). Looked at through real directories only: the container may have put links on
    the way."""
    with Beneath(top) as upper:
        views = [Beneath(parent) for parent in parents]
        try:
            return [
                rel
                for rel in sorted(points)
                if _empty_stub(upper, rel) and not any(view.exists(rel) for view in views)
            ]
        finally:
            for view in views:
                view.close()


def _empty_stub(upper: Beneath, rel: str) -> bool:
    st = upper.lstat(rel)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        directory = upper.dir(rel)
        return directory is not None and not os.listdir(directory)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0

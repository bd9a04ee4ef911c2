"""Disk usage of a directory tree, counted as ``du -x`` does (hard-linked inodes once,
mount points not entered: a running container's rootfs is a view of snapshots already
counted)."""

from __future__ import annotations

import os
import stat

from cove.host.trees import walk


def disk_usage(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Return (bytes on disk, bytes of file contents) under ``path``, of any depth."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0, 0
    usage, size = st.st_blocks * 512, 0
    if not stat.S_ISDIR(st.st_mode):
        return usage, st.st_size if stat.S_ISREG(st.st_mode) else 0
    seen: set[tuple[int, int]] = set()
    for entry in walk(path, cross_mounts=False, ordered=False):
        st = entry.stat
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in seen:
                continue
            seen.add(ident)
        usage += st.st_blocks * 512
        if stat.S_ISREG(st.st_mode):
            size += st.st_size
    return usage, size

"""Disk usage of a directory tree, counted as du does (hard-linked inodes once)."""

from __future__ import annotations

import os
import stat


def disk_usage(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Return (bytes on disk, bytes of file contents) under ``path``."""
    seen: set[tuple[int, int]] = set()
    usage = size = 0
    stack = [os.fspath(path)]
    try:
        st = os.lstat(stack[0])
    except FileNotFoundError:
        return 0, 0
    usage += st.st_blocks * 512
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in seen:
                    continue
                seen.add(ident)
            usage += st.st_blocks * 512
            if stat.S_ISREG(st.st_mode):
                size += st.st_size
            elif stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
    return usage, size

"""Describing directory trees exactly (types, modes, owners, contents, xattrs) to compare them."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any


def describe(root: Path, *, times: bool = False) -> dict[str, tuple[Any, ...]]:
    """Path -> (kind, mode, uid, gid, content-or-target, xattrs[, mtime]) for everything under root."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                kind, content = "symlink", os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                kind, content = "dir", ""
            elif stat.S_ISREG(st.st_mode):
                kind, content = "file", hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISCHR(st.st_mode):
                kind, content = "chardev", f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            elif stat.S_ISBLK(st.st_mode):
                kind, content = "blockdev", f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            elif stat.S_ISFIFO(st.st_mode):
                kind, content = "fifo", ""
            else:
                kind, content = "other", ""
            try:
                names = os.listxattr(path, follow_symlinks=False)
                xattrs = tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))
            except OSError:
                xattrs = ()
            item: tuple[Any, ...] = (kind, mode, st.st_uid, st.st_gid, content, xattrs)
            if times:
                item += (st.st_mtime_ns,)
            out[rel] = item
    return out

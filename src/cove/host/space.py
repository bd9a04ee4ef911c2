"""Free space on a filesystem, and a small reserve kept on it for when it runs out.

SQLite cannot even open a WAL database on a full filesystem: it must create the
``-shm`` file (32 KiB) first, and fails with SQLITE_IOERR_SHMSIZE. Then no cove command
works, ``system prune`` included, which is what a user is told to run. So the store keeps
a reserve file (like a database's ballast file): when the database cannot be opened for
want of space, the reserve goes and the command runs; it is made again once there is
room to spare.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

RESERVE_MAX = 1 << 20  # a WAL index (32 KiB) and the pages a prune rewrites
RESERVE_SHARE = 100  # at most this fraction (1/100) of the filesystem


def free_space(path: Path) -> int:
    """Bytes that root may still write on the filesystem holding ``path`` (0 if out of inodes)."""
    st = os.statvfs(path)
    if st.f_files and not st.f_ffree:
        return 0
    return st.f_bfree * st.f_frsize


def keep_reserve(reserve: Path) -> None:
    """Make the reserve file if it is missing and the filesystem has room to spare."""
    if reserve.exists():
        return
    try:
        st = os.statvfs(reserve.parent)
        size = min(RESERVE_MAX, st.f_blocks * st.f_frsize // RESERVE_SHARE)
        if size <= 0 or free_space(reserve.parent) < 4 * size:
            return
        fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError:
            os.write(fd, bytes(size))  # a filesystem without fallocate
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(reserve)
    finally:
        os.close(fd)


def release_reserve(reserve: Path) -> bool:
    """Give the reserve's space back; False if there was none to give."""
    try:
        os.unlink(reserve)
    except FileNotFoundError:
        return False
    return True

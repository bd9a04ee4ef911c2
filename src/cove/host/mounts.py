"""mount(2) and umount2(2) through libc, for mounts described as data."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from cove.errors import InternalError
from cove.host.libc import libc
from cove.oci.mount import Mount

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2


class MountError(InternalError):
    def __init__(self, what: str, target: Path, err: int) -> None:
        super().__init__(f"{what} {target}: {os.strerror(err)}")
        self.errno = err


def _mount(source: str, target: Path, fstype: str | None, flags: int, data: str | None) -> None:
    rc = libc().mount(
        source.encode(),
        os.fsencode(target),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if rc != 0:
        raise MountError(f"mount {fstype or 'bind'} on", target, ctypes.get_errno())


def mount_all(mounts: Sequence[Mount], target: Path) -> None:
    """Mount ``mounts`` on ``target`` in order; on failure, undo what was mounted."""
    done = 0
    try:
        for m in mounts:
            if m.type == "bind":
                _mount(m.source, target, None, MS_BIND | MS_REC, None)
                if m.readonly:
                    _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
            else:
                options = ",".join(o for o in m.options if o != "ro")
                flags = MS_RDONLY if m.readonly else 0
                _mount(m.source, target, m.type, flags, options)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def bind_fd(fd: int, target: Path) -> None:
    """Bind what the descriptor ``fd`` pins (an ``O_PATH`` one will do) on ``target``: through
    its /proc entry, which leads to that very object and nowhere else."""
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC, None)


def unmount(target: Path, *, lazy: bool = False) -> None:
    rc = libc().umount2(os.fsencode(target), MNT_DETACH if lazy else 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err == errno.EINVAL:  # not a mount point: nothing to undo
            return
        raise MountError("unmount", target, err)


def mounts_under(path: Path) -> list[Path]:
    """The mount points at or below ``path``, deepest first (the order to unmount them in)."""
    top = os.fsencode(os.path.realpath(path))
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = _unescape(line.split(b" ", 5)[4])
            if point == top or point.startswith(top.rstrip(b"/") + b"/"):
                found.append(Path(os.fsdecode(point)))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_all_under(path: Path) -> None:
    """Detach everything mounted at or below ``path`` (before a tree there is removed, so the
    removal cannot reach into what was mounted)."""
    for point in mounts_under(path):
        unmount(point, lazy=True)


def is_mountpoint(path: Path) -> bool:
    target = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ", 5)[4]
            if _unescape(point) == target:
                return True
    return False


def _unescape(field: bytes) -> bytes:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if b"\\" not in field:
        return field
    out = bytearray()
    i = 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def filesystem_type(path: Path) -> str:
    """The type of the filesystem that holds ``path`` (ext4, xfs, tmpfs, overlay, ...)."""
    target = os.path.realpath(path)
    best, fstype = "", "unknown"
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            point = os.fsdecode(_unescape(fields[4]))
            sep = fields.index(b"-")
            if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, fstype = point, fields[sep + 1].decode()
    return fstype

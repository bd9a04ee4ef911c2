"""The container state the monitor records (``state.json``), written atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from pathlib import Path
from typing import Any

CREATED = "created"
RUNNING = "running"
RESTARTING = "restarting"
EXITED = "exited"

NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})
# A record is a few KiB (health results take the most: five outputs of up to 4 KiB each).
SPARE_SIZE = 64 << 10


def now_rfc3339() -> str:
    """The time now as Go's RFC3339Nano writes it (Docker's StartedAt, FinishedAt and health
    log times): UTC, nanoseconds with trailing zeros trimmed, no fraction on a whole second."""
    seconds, frac = divmod(time.time_ns(), 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def write_state(path: Path, state: dict[str, Any], *, spare: bool = False) -> None:
    """Replace the record at ``path`` atomically (a new file renamed over it). ``spare``: when
    the file system is out of space, release the spare kept beside it (see reserve_spare) and
    try once more, so that a record that must not be lost, an exit, still goes in."""
    data = json.dumps(state).encode()
    try:
        _replace(path, data)
    except OSError as exc:
        if not (spare and exc.errno in NO_ROOM and release_spare(path)):
            raise
        _replace(path, data)


def reserve_spare(path: Path, size: int = SPARE_SIZE) -> bool:
    """Keep ``size`` bytes allocated beside the record at ``path``, for write_state to give
    back when the disk is full. Blocks released by deleting a file are free again at once (on
    ext4 once its journal commits, which an allocation that finds none waits for), and the
    rename keeps the record whole: a copy-on-write file system or a concurrent reader would
    break an overwrite in place. False when there is no room for it now (try again later)."""
    spare = _spare(path)
    try:
        if spare.stat().st_size >= size:
            return True
    except FileNotFoundError:
        pass
    try:
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError:
        release_spare(path)  # half a spare is only taken space
        return False
    return True


def _spare(path: Path) -> Path:
    return path.with_name(path.name + ".spare")


def release_spare(path: Path) -> bool:
    """Give the spare's space back; False when there was none."""
    try:
        os.unlink(_spare(path))
    except FileNotFoundError:
        return False
    return True


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # what a failed try took is free again
        raise


def read_state(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

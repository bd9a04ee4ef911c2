"""Making writes durable, behind a seam: the store says *what* must be on disk, and when.

A rename is atomic, and survives kill -9 at once; after a power loss or a kernel crash it
survives only what was flushed. So a commit flushes in order: the data it publishes
(``file``, before the rename), then the directory that holds the new name (``directory``,
after it). A tree of many files (an unpacked layer) is flushed whole with one ``syncfs`` of
its filesystem before its database row says it is committed, rather than one fsync per
file. Unit tests pass a recording object with the same three methods.
"""

from __future__ import annotations

import ctypes
import os
from typing import Protocol

from cove.host.libc import libc

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Flush(Protocol):
    def file(self, fd: int) -> None:
        """The data (and size) of the open file ``fd`` are on disk when this returns."""

    def directory(self, path: str | os.PathLike[str]) -> None:
        """The names in directory ``path`` (a rename into it, a new entry) are on disk."""

    def filesystem(self, path: str | os.PathLike[str]) -> None:
        """Everything written to the filesystem holding ``path`` is on disk."""


class Flusher:
    """The real flushes: fdatasync, fsync of a directory, syncfs."""

    def file(self, fd: int) -> None:
        os.fdatasync(fd)

    def directory(self, path: str | os.PathLike[str]) -> None:
        fd = os.open(path, _DIR_FLAGS)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def filesystem(self, path: str | os.PathLike[str]) -> None:
        fd = os.open(path, _DIR_FLAGS)
        try:
            if libc().syncfs(ctypes.c_int(fd)) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), os.fspath(path))
        finally:
            os.close(fd)

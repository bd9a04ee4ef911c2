"""Advisory file locks (flock): released by the kernel when their holder dies, even by kill -9."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FileLock:
    """A lock on a file that is shared or exclusive; one object holds at most one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            operation |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    @classmethod
    def adopt(cls, path: Path, fd: int) -> FileLock:
        """A lock already held through ``fd`` (inherited across exec)."""
        lock = cls(path)
        lock._fd = fd
        return lock

    def fileno(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"lock {self.path} is not held")
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def try_free(self) -> bool:
        """Is nobody holding the lock right now? (Takes and drops it when free.)"""
        if not self.acquire(blocking=False):
            return False
        self.release()
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire(shared=True)
        try:
            yield
        finally:
            self.release()

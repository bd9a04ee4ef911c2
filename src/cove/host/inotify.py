"""inotify through libc: wait for a file to change instead of polling it.

``Watcher`` watches the paths it is given; ``TreeWatcher`` watches whole directory trees (each
new directory as it appears) and answers with the paths that changed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
from collections.abc import Iterable
from pathlib import Path

from cove.host.libc import libc

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ATTRIB = 0x004
IN_IGNORED = 0x8000  # the watch is gone (its directory deleted, or removed by us)
IN_Q_OVERFLOW = 0x4000  # the kernel's queue overflowed: events were lost
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


class Watcher:
    """Watch files or directories; :meth:`wait` returns when any of them changes (or on timeout)."""

    def __init__(self) -> None:
        fd = libc().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd = fd

    def add(
        self, path: Path, mask: int = IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE
    ) -> int:
        wd = libc().inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        return int(wd)

    def wait(self, timeout: float | None) -> list[tuple[int, int, str]]:
        """Events as (watch, mask, name); empty on timeout."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        events = []
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + length].rstrip(b"\0").decode(errors="replace")
            offset += length
            events.append((wd, mask, name))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


TREE_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB
MAX_DIRECTORIES = 65536  # watched directories per TreeWatcher (each costs the kernel ~1 KiB)
_READ = 256 * 1024  # bytes of events read at once


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class TreeWatcher:
    """Watch the trees at ``roots`` (directories or files, existing or not yet) for changes.

    Directories are watched recursively, new ones as they appear (what they already hold when
    their watch comes is reported as changed); a root that does not exist is waited for from its
    nearest existing ancestor, and each root's parent is watched too, so that a root deleted or
    replaced (editors save by renaming over the file) and created again is seen. When the
    kernel's queue overflows, the trees are walked again and every file in them reported.
    """

    def __init__(self, roots: Iterable[str | Path], *, max_directories: int = MAX_DIRECTORIES) -> None:
        self.roots = tuple(dict.fromkeys(os.path.abspath(r) for r in roots))
        self.max_directories = max_directories
        self.overflows = 0
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory
        self._wds: dict[str, int] = {}
        fd = libc().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd: int = fd
        try:
            self._watch_roots()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> TreeWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return int(self.fd)

    def _within(self, path: str) -> bool:
        return any(_inside(path, root) for root in self.roots)

    def _on_the_way(self, directory: str) -> bool:
        """Does ``directory`` hold a root (then it is watched, but not all of it)?"""
        return any(_inside(root, directory) and root != directory for root in self.roots)

    def _watch_roots(self) -> list[str]:
        found: list[str] = []
        for root in self.roots:
            start = os.path.dirname(root) or "/"
            while not os.path.isdir(start) and start != "/":
                start = os.path.dirname(start)
            found += self._add_tree(start)
        return found

    def _add_tree(self, top: str) -> list[str]:
        """Watch ``top`` and what is under it that is, or leads to, a root; the files found there
        (within a root)."""
        found: list[str] = []
        stack = [top]
        while stack:
            directory = stack.pop()
            if not (self._within(directory) or self._on_the_way(directory)):
                continue
            if directory not in self._wds and len(self._wds) >= self.max_directories:
                raise OSError(
                    errno.ENOSPC,
                    f"watching {directory}: more than {self.max_directories} directories to watch",
                )
            # A root may be a link to its directory; nothing under it is followed.
            follow = 0 if directory in self.roots else IN_DONT_FOLLOW
            wd = libc().inotify_add_watch(
                self.fd, os.fsencode(directory), TREE_EVENTS | IN_ONLYDIR | IN_EXCL_UNLINK | follow
            )
            if wd < 0:
                code = ctypes.get_errno()
                if code in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.ELOOP):
                    continue  # gone again, or not ours to see: nothing to watch
                if code == errno.ENOSPC:
                    raise OSError(code, f"watching {directory}: the inotify watch limit is reached "
                                  "(raise fs.inotify.max_user_watches)")  # fmt: skip
                raise OSError(code, f"inotify_add_watch {directory}")
            old = self._dirs.get(wd)
            if old is not None and old != directory:
                self._wds.pop(old, None)
            self._dirs[wd] = directory
            self._wds[directory] = wd
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                path = os.path.join(directory, entry.name)
                try:
                    is_dir = entry.is_dir(follow_symlinks=path in self.roots)
                except OSError:
                    continue
                if is_dir:
                    stack.append(path)
                elif self._within(path):
                    found.append(path)
        return found

    def _forget(self, directory: str) -> None:
        """Stop watching ``directory`` and everything under it (it moved away)."""
        for path in [p for p in self._wds if _inside(p, directory)]:
            wd = self._wds.pop(path)
            self._dirs.pop(wd, None)
            libc().inotify_rm_watch(self.fd, wd)

    @property
    def watched(self) -> int:
        """How many directories are watched."""
        return len(self._wds)

    def read(self, timeout: float | None) -> list[str]:
        """The paths that changed (created, written, deleted, moved in or out), in the order they
        did, each once; empty on timeout."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, _READ)
        except BlockingIOError:
            return []
        changed: dict[str, None] = {}
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = os.fsdecode(data[offset : offset + length].rstrip(b"\0"))
            offset += length
            if mask & IN_Q_OVERFLOW:
                self.overflows += 1
                changed.update(dict.fromkeys(self._watch_roots()))
                continue
            directory = self._dirs.get(wd)
            if directory is None:
                continue
            if mask & IN_IGNORED:
                self._dirs.pop(wd, None)
                if self._wds.get(directory) == wd:
                    del self._wds[directory]
                continue
            path = os.path.join(directory, name) if name else directory
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    found = self._add_tree(path)
                    if self._within(path):
                        changed[path] = None
                    changed.update(dict.fromkeys(found))
                    continue
                if mask & IN_MOVED_FROM:
                    self._forget(path)
            if self._within(path):
                changed[path] = None
        return list(changed)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._dirs.clear()
        self._wds.clear()

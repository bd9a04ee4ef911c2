"""Opening paths inside a root directory (a container's rootfs, an image, a build context)
so that they cannot leave it, whatever the tree holds and whatever changes it meanwhile.

A path is resolved as if the root were ``/``: symbolic links are followed, an absolute
target or a ``..`` starts again from (or stops at) the root, so a link to ``/etc`` means
the root's own ``etc``. Resolving and opening are one step: a path is never resolved
first and opened later by name, so a directory swapped for a symbolic link in between
(the race of Docker's CVE-2018-15664) leads nowhere outside.

Two ways, same answers:

- ``openat2(2)`` with ``RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`` (Linux 5.6): the kernel
  does the walk in one call;
- elsewhere (an older kernel, a seccomp filter that refuses it), a walk of our own: one
  component at a time, each opened ``O_PATH | O_NOFOLLOW`` relative to the directory
  descriptor before it, links read and spliced in, ``..`` taken from our own stack of
  descriptors (never from the tree, which may have been moved).

Everything returns descriptors, which the caller closes; only what is under the root is
ever opened, and files of other kinds than asked for (a FIFO instead of a file) are
refused before they can block a reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from cove.errors import InvalidArgument

MAX_SYMLINKS = 40  # as the kernel's ELOOP limit
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # a directory of cove's own, by path
_PATH = os.O_PATH | os.O_CLOEXEC
_SYS_OPENAT2 = 437  # the same number on every architecture (a syscall newer than the split)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class PathEscape(InvalidArgument):
    """A path that cannot be resolved inside its root (a loop of links, say)."""


class Resolver(Protocol):
    def __call__(self, root_fd: int, path: str, flags: int, mode: int) -> int: ...


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def walk_open(root_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """``openat2(root_fd, path, flags, RESOLVE_IN_ROOT)``'s answer, by a walk of our own.

    ``flags`` may hold ``O_NOFOLLOW`` (a final link is not followed) and ``O_CREAT`` /
    ``O_EXCL`` (the file is made in the directory the path leads to)."""
    return _walk(root_fd, path, flags, mode, None)[0]


def _walk(root_fd: int, path: str, flags: int, mode: int, mkdir_mode: int | None) -> tuple[int, bool]:
    """The walk; with ``mkdir_mode``, missing directories on the way (and at the end) are made.
    (descriptor, whether the last component was made)."""
    stack = [os.dup(root_fd)]  # the directories walked so far; stack[0] is the root
    made = False
    parts = _components(path)
    links = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not parts
            made = False
            if last and flags & os.O_NOFOLLOW:
                return os.open(part, flags | os.O_CLOEXEC, mode, dir_fd=stack[-1]), False
            try:
                fd = os.open(part, _PATH | os.O_NOFOLLOW, dir_fd=stack[-1])
            except FileNotFoundError:
                if last and flags & os.O_CREAT:  # (a link that appears now: ELOOP, an error)
                    return os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=stack[-1]), True
                if mkdir_mode is None:
                    raise
                with contextlib.suppress(FileExistsError):  # made meanwhile: looked at below
                    os.mkdir(part, mkdir_mode, dir_fd=stack[-1])
                    made = True
                fd = os.open(part, _PATH | os.O_NOFOLLOW, dir_fd=stack[-1])
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                try:  # the link this descriptor pins (by name, it may be another by now)
                    target = os.readlink("", dir_fd=fd)
                finally:
                    os.close(fd)
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = _components(target) + parts
                continue
            if not last:
                if not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
                stack.append(fd)
                continue
            try:
                return _reopen(fd, st, flags, path), made
            finally:
                os.close(fd)
        # The root itself, or the directory that a final `..` led back to.
        return _reopen(stack[-1], os.fstat(stack[-1]), flags, path), False
    finally:
        for fd in stack:
            os.close(fd)


def _reopen(fd: int, st: os.stat_result, flags: int, path: str) -> int:
    """Open what the ``O_PATH`` descriptor ``fd`` pins with ``flags``: through its /proc entry,
    which leads to that very inode, so nothing can be swapped in between."""
    if flags & os.O_CREAT and flags & os.O_EXCL:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    if flags & os.O_DIRECTORY and not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    if flags & os.O_PATH:
        return os.dup(fd)
    return os.open(fd_path(fd), (flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW)) | os.O_CLOEXEC)


class _Openat2:
    """openat2(2) through libc's syscall(), loaded on first use."""

    def __init__(self) -> None:
        import ctypes  # noqa: PLC0415 - 2 ms, and only where paths are opened in a root

        self._ctypes = ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long

        class OpenHow(ctypes.Structure):
            _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

        self._how = OpenHow

    def __call__(self, root_fd: int, path: str, flags: int, mode: int) -> int:
        ctypes = self._ctypes
        how = self._how(
            flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS
        )
        raw = os.fsencode(path or ".")
        for _ in range(16):  # EAGAIN: a rename or mount raced the walk; the kernel asks to retry
            fd = self._syscall(_SYS_OPENAT2, root_fd, raw, ctypes.byref(how), ctypes.sizeof(how))
            if fd >= 0:
                return int(fd)
            err = ctypes.get_errno()
            if err != errno.EAGAIN:
                raise OSError(err, os.strerror(err), path)
        raise OSError(errno.EAGAIN, "the path kept changing while it was resolved", path)


_resolver: Resolver | None = None


def default_resolver() -> Resolver:
    """openat2 where this kernel has it (probed once), else the walk."""
    global _resolver
    if _resolver is None:
        chosen: Resolver = walk_open
        try:
            candidate = _Openat2()
            fd = os.open("/", _PATH | os.O_DIRECTORY)
            try:
                os.close(candidate(fd, ".", _PATH, 0))
                chosen = candidate
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            pass  # ENOSYS, EPERM from a seccomp filter, or no libc to ask
        _resolver = chosen
    return _resolver


class Root:
    """A directory that stands for ``/``: every path given is resolved inside it."""

    def __init__(self, path: str | Path, *, resolver: Resolver | None = None) -> None:
        self.path = str(path)
        self.fd = os.open(self.path, _PATH | os.O_DIRECTORY)
        self._resolve = resolver or default_resolver()

    @classmethod
    def of_fd(cls, fd: int, path: str, *, resolver: Resolver | None = None) -> Root:
        """A root for the directory ``fd`` (taken over: closed with the root)."""
        root = cls.__new__(cls)
        root.path, root.fd, root._resolve = path, fd, resolver or default_resolver()
        return root

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening -------------------------------------------------------------------------

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o644, *, follow: bool = True) -> int:
        """A descriptor for ``path``; with ``follow=False`` a final symbolic link is not followed
        (with ``O_PATH`` the link itself is opened; otherwise ELOOP)."""
        try:
            return self._resolve(self.fd, path, flags | (0 if follow else os.O_NOFOLLOW), mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP and follow:
                raise PathEscape(f"too many levels of symbolic links in {path}") from None
            raise

    def open_dir(self, path: str) -> int:
        """A readable descriptor of the directory ``path`` (NotADirectoryError if it is not one)."""
        return self.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def parent(self, path: str) -> tuple[int, str]:
        """(descriptor of the directory that holds ``path``'s last component, that component).

        The component is "." when ``path`` names the root, or ends in ``..``: then the
        descriptor is the directory itself. The caller works on the name with ``dir_fd`` and
        without following it (``O_NOFOLLOW``, ``follow_symlinks=False``)."""
        parts = _components(path)
        if not parts or parts[-1] == "..":
            return self.open_dir(path), "."
        head = "/".join(parts[:-1])
        return self.open_dir(head), parts[-1]

    def locate(self, path: str) -> tuple[int, str]:
        """As :meth:`parent`, with a final link followed too (inside the root)."""
        return follow_last(self.parent, path)

    def lstat(self, path: str) -> os.stat_result | None:
        """``path``'s own status (a final link is not followed); None when it does not exist."""
        return self._stat(path, follow=False)

    def stat(self, path: str) -> os.stat_result | None:
        """The status of what ``path`` leads to (links followed inside the root); None if nothing."""
        return self._stat(path, follow=True)

    def _stat(self, path: str, *, follow: bool) -> os.stat_result | None:
        try:
            fd = self.open(path, os.O_PATH, follow=follow)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PathEscape:
            return None  # a loop of links leads nowhere, as stat(2) would say (ELOOP)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def read_file(self, path: str, limit: int) -> bytes | None:
        """A small regular file in full; None when there is none. A path that leads to
        something else (a FIFO, a device, a directory) or to more than ``limit`` bytes is an
        error: opened without blocking, and never read past ``limit``."""
        try:
            fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise InvalidArgument(f"{path} is a directory, not a file") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidArgument(f"{path} is {describe_kind(st.st_mode)}, not a regular file")
            if st.st_size > limit:
                raise InvalidArgument(f"{path} is too large ({st.st_size} bytes; at most {limit} are read)")
            chunks = []
            size = 0
            while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                raise InvalidArgument(f"{path} is too large (more than {limit} bytes)")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def make_dirs(self, path: str, mode: int = 0o755) -> tuple[int, bool]:
        """Make what is missing of the directories of ``path`` (links followed inside the root,
        dangling ones to where they lead); (a readable descriptor of the last directory,
        whether that one was made here)."""
        try:
            return _walk(self.fd, path, os.O_RDONLY | os.O_DIRECTORY, 0, mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathEscape(f"too many levels of symbolic links in {path}") from None
            raise


def follow_last(parent_of: Callable[[str], tuple[int, str]], path: str) -> tuple[int, str]:
    """(directory descriptor, name) of what ``path`` leads to once a final link is followed
    too: each link's target is a path again, resolved by ``parent_of`` (``..`` in it is taken
    from where the walk is, as the kernel does). The name may not exist."""
    for _ in range(MAX_SYMLINKS + 1):
        parent, name = parent_of(path)
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return parent, name
        if not stat.S_ISLNK(st.st_mode):
            return parent, name
        try:
            target = os.readlink(name, dir_fd=parent)
        finally:
            os.close(parent)
        path = (
            target
            if target.startswith("/")
            else posixpath.join(posixpath.dirname("/" + path.strip("/")), target)
        )
    raise PathEscape(f"too many levels of symbolic links in {path}")


def describe_kind(mode: int) -> str:
    """ "a FIFO", "a directory", ...: for messages."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def fd_path(fd: int, name: str = "") -> str:
    """A path that reaches ``name`` in the directory ``fd`` (or ``fd`` itself) and nothing else:
    for the calls that take no descriptor (``chmod`` without following, xattrs of a link)."""
    return f"/proc/self/fd/{fd}/{name}" if name else f"/proc/self/fd/{fd}"


@contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` at the end of the block."""
    try:
        yield fd
    finally:
        os.close(fd)

"""Walking and removing directory trees that cove does not control (image layers, container
files) without recursion, without following symlinks and without crossing into mounts.

Python's ``shutil.rmtree`` and ``os.walk`` recurse once per level and stop with
``RecursionError`` near 1,000 levels; path-based calls stop at PATH_MAX (4,096 bytes). A
container can make a tree a million levels deep in seconds, so both work here from
directory descriptors (``openat``), one level at a time, on an explicit stack.

Only the deepest :data:`MAX_OPEN` levels (``max_open``) keep their descriptor open; going
back up to a level whose descriptor was closed opens ``..`` of the level below and checks that
it is the same directory (device and inode) as before, as gnulib's fts does. So a tree of any depth
takes a bounded number of descriptors, and a tree moved about while it is walked is an
error, never a walk into somewhere else.

A subdirectory that is a mount point is never entered by :func:`remove_tree` (nor by
:func:`walk` with ``cross_mounts=False``): ``openat2(RESOLVE_NO_XDEV)`` tells, bind mounts of
the same filesystem included; a kernel without ``openat2`` (before 5.6) falls back to
comparing devices.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cove.host.libc import libc

MAX_OPEN = 64  # directory descriptors one walk keeps open at most

# Told of each leftover that a cleanup could not remove, and why; the cleanup goes on.
OnFailure = Callable[[Path, Exception], None]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SYS_OPENAT2 = 437  # the same number on every architecture (added after the tables merged)
_RESOLVE_NO_XDEV = 0x01
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """openat2(2) through libc's syscall(), remembered as missing after the first ENOSYS."""

    def __init__(self) -> None:
        self.available = True

    def open_dir(self, dir_fd: int, name: str) -> int | None:
        """A descriptor of the subdirectory ``name``, or None when openat2 is missing here."""
        if not self.available:
            return None
        how = _OpenHow(_DIR_FLAGS, 0, _RESOLVE_NO_XDEV | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
        call = libc().syscall
        fd = call(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(name)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):  # an old kernel, or a seccomp filter that refuses it
            self.available = False
            return None
        raise OSError(err, os.strerror(err), name)


_openat2 = _Openat2()


class MountPointInTree(OSError):
    """A directory inside a tree is a mount point: the tree cannot be removed whole."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EBUSY, "a mount point is in the way", path)


class TreeChanged(OSError):
    """A directory was moved while the tree was walked (its ``..`` is not the one walked from)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ESTALE, "the directory was moved during the walk", path)


def _open_subdir(dir_fd: int, name: str, *, cross_mounts: bool, dev: int) -> int:
    """Open the directory ``name`` under ``dir_fd``: never through a symlink, and (unless
    ``cross_mounts``) never into a mount point, which raises :class:`MountPointInTree`."""
    if not cross_mounts:
        try:
            fd = _openat2.open_dir(dir_fd, name)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise MountPointInTree(name) from None
            raise
        if fd is not None:
            return fd
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    if not cross_mounts and os.fstat(fd).st_dev != dev:
        os.close(fd)
        raise MountPointInTree(name)
    return fd


@dataclass(eq=False)
class _Frame:
    """One directory on the walk's stack."""

    name: str  # its name in the directory above
    dev: int
    ino: int
    fd: int | None
    parent: _Frame | None
    pending: list[tuple[str, bool]] = field(default_factory=list)  # (name, is_dir), last first
    _rel: str | None = None

    @property
    def rel(self) -> str:
        """The path from the walk's root ("" for the root itself), kept once asked for."""
        if self._rel is None:
            names = []
            frame = self
            while frame._rel is None:
                names.append(frame.name)
                assert frame.parent is not None  # the root's is ""
                frame = frame.parent
            base = frame._rel
            for name in reversed(names):
                base = f"{base}/{name}" if base else name
            self._rel = base
        return self._rel


def _list(fd: int, *, ordered: bool) -> list[tuple[str, bool]]:
    with os.scandir(fd) as it:
        found = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    if ordered:
        found.sort(reverse=True)  # popped from the end: ascending order
    return found


class _Stack:
    """The directories from the root to the one being read, with at most ``max_open`` open."""

    def __init__(self, root_fd: int, *, ordered: bool, max_open: int = MAX_OPEN) -> None:
        st = os.fstat(root_fd)
        self.ordered = ordered
        self.max_open = max_open
        self.frames = [_Frame("", st.st_dev, st.st_ino, root_fd, None, _list(root_fd, ordered=ordered), "")]

    @property
    def top(self) -> _Frame:
        return self.frames[-1]

    def fd(self) -> int:
        fd = self.top.fd
        assert fd is not None  # the top frame is always open
        return fd

    def push(self, name: str, fd: int) -> _Frame:
        st = os.fstat(fd)
        frame = _Frame(name, st.st_dev, st.st_ino, fd, self.top)
        self.frames.append(frame)
        try:
            frame.pending = _list(fd, ordered=self.ordered)
        finally:
            if len(self.frames) > self.max_open + 1:  # the root stays open: it is the caller's
                evicted = self.frames[-self.max_open - 1]
                if evicted.fd is not None:
                    os.close(evicted.fd)
                    evicted.fd = None
        return frame

    def pop(self) -> _Frame:
        """Leave the top directory (closing it); the one above it is open afterwards."""
        done = self.frames.pop()
        fd = done.fd
        assert fd is not None
        try:
            above = self.frames[-1] if self.frames else None
            if above is not None and above.fd is None:
                up = os.open("..", _DIR_FLAGS, dir_fd=fd)
                st = os.fstat(up)
                if (st.st_dev, st.st_ino) != (above.dev, above.ino):
                    os.close(up)
                    raise TreeChanged(above.rel or ".")
                above.fd = up
        finally:
            if done.parent is not None:  # the root's descriptor is the caller's to close
                os.close(fd)
            done.fd = None
        return done

    def close(self) -> None:
        for frame in self.frames[1:]:
            if frame.fd is not None:
                os.close(frame.fd)
                frame.fd = None
        self.frames.clear()


# ------------------------------------------------------------------------------------------ walking


@dataclass(frozen=True)
class Entry:
    """Something found by :func:`walk`. ``dir_fd`` (the directory holding it, to open it with
    ``dir_fd=`` and ``O_NOFOLLOW``) is valid only until the walk goes on."""

    name: str
    dir_fd: int
    stat: os.stat_result  # lstat: a symlink is a symlink
    _parent: _Frame

    @cached_property
    def rel(self) -> str:
        """The path from the walk's root, '/'-separated, without a leading '/'."""
        base = self._parent.rel
        return f"{base}/{self.name}" if base else self.name

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)


def walk(
    root: str | os.PathLike[str],
    *,
    descend: Callable[[Entry], bool] | None = None,
    cross_mounts: bool = True,
    ordered: bool = True,
    max_open: int = MAX_OPEN,
) -> Generator[Entry, None, None]:
    """Everything under ``root`` (not ``root`` itself), each directory before what it holds,
    names in ascending order (unless not ``ordered``). Symlinks are reported, never followed;
    ``descend`` decides which directories are entered (all by default); with ``cross_mounts``
    false, mount points are reported but not entered. Entries that vanish meanwhile are
    skipped. A missing ``root`` yields nothing."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        stack = _Stack(root_fd, ordered=ordered, max_open=max_open)
        try:
            while stack.frames:
                frame = stack.top
                if not frame.pending:
                    stack.pop()
                    continue
                name, _ = frame.pending.pop()
                fd = stack.fd()
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entry = Entry(name, fd, st, frame)
                yield entry
                if not stat.S_ISDIR(st.st_mode) or (descend is not None and not descend(entry)):
                    continue
                try:
                    child = _open_subdir(fd, name, cross_mounts=cross_mounts, dev=frame.dev)
                except MountPointInTree:
                    continue
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        continue  # gone, or replaced by something else, since it was seen
                    raise
                if os.fstat(child).st_ino != st.st_ino:
                    os.close(child)  # replaced since it was seen: not what was reported
                    continue
                stack.push(name, child)
        finally:
            stack.close()
    finally:
        os.close(root_fd)


# ------------------------------------------------------------------------------------------ removal


def remove_tree(path: str | os.PathLike[str], *, missing_ok: bool = True, max_open: int = MAX_OPEN) -> None:
    """Remove ``path`` and everything under it, like ``rm -rf --one-file-system``.

    Symlinks are removed, never followed (``path`` itself included). What can be removed
    is removed; the first failure is raised afterwards as an OSError naming the path that
    failed (a mount point inside raises :class:`MountPointInTree`, and nothing under that
    mount point is touched)."""
    full = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(full)
    if not name:
        raise OSError(errno.EINVAL, "refusing to remove a filesystem root", full)
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_tree_at(parent_fd, name, missing_ok=missing_ok, shown=full, max_open=max_open)
    finally:
        os.close(parent_fd)


def remove_tree_at(
    dir_fd: int, name: str, *, missing_ok: bool = True, shown: str | None = None, max_open: int = MAX_OPEN
) -> None:
    """:func:`remove_tree` of ``name`` in the directory ``dir_fd`` (``shown``: its path, for
    errors): nothing on the way to it is looked up again."""
    shown = shown or name
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    try:
        top = _open_subdir(dir_fd, name, cross_mounts=False, dev=os.fstat(dir_fd).st_dev)
    except MountPointInTree:
        raise MountPointInTree(shown) from None
    try:
        first = _empty(top, shown, max_open)
    finally:
        os.close(top)
    if first is not None:
        raise first
    os.rmdir(name, dir_fd=dir_fd)


def _empty(top_fd: int, top_path: str, max_open: int) -> OSError | None:
    """Remove everything in the directory ``top_fd``; returns the first failure, if any."""
    first: OSError | None = None

    def failed(exc: OSError, frame: _Frame, name: str) -> None:
        nonlocal first
        if first is None:
            rel = f"{frame.rel}/{name}" if frame.rel else name
            where = os.path.join(top_path, rel)
            if isinstance(exc, (MountPointInTree, TreeChanged)):
                first = type(exc)(where)
            else:
                first = OSError(exc.errno, exc.strerror, where)

    stack = _Stack(top_fd, ordered=False, max_open=max_open)
    try:
        while stack.frames:
            frame = stack.top
            fd = stack.fd()
            if not frame.pending:
                done = stack.pop()
                if stack.frames:
                    try:
                        os.rmdir(done.name, dir_fd=stack.fd())
                    except OSError as exc:
                        if exc.errno != errno.ENOENT and first is None:
                            failed(exc, stack.top, done.name)
                continue
            name, is_dir = frame.pending.pop()
            if not is_dir:
                try:
                    os.unlink(name, dir_fd=fd)
                    continue
                except FileNotFoundError:
                    continue
                except IsADirectoryError:
                    pass  # it became a directory since it was listed
                except OSError as exc:
                    failed(exc, frame, name)
                    continue
            try:
                child = _open_subdir(fd, name, cross_mounts=False, dev=frame.dev)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    continue
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):  # not a directory (any more)
                    try:
                        os.unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except OSError as again:
                        failed(again, frame, name)
                    continue
                failed(exc, frame, name)
                continue
            try:
                stack.push(name, child)
            except OSError as exc:
                failed(exc, frame, name)
    except TreeChanged as exc:
        if first is None:
            first = TreeChanged(os.path.join(top_path, str(exc.filename)))
    finally:
        stack.close()
    return first


def remove_quietly(path: str | os.PathLike[str]) -> OSError | None:
    """:func:`remove_tree` for best-effort removals (what fails stays for the store's
    cleanup to retry and report); returns the failure instead of raising it."""
    try:
        remove_tree(path)
    except OSError as exc:
        return exc
    return None


# ------------------------------------------------------------------------------------------ lookups


class Beneath:
    """Looks up paths under a root with no symlink followed on the way (an ``lstat`` of
    every component), remembering the last directories it opened: lookups in the order of
    a walk cost one ``fstatat`` each, at any depth."""

    CACHE = 128

    def __init__(self, root: str | os.PathLike[str]) -> None:
        try:
            self._root: int | None = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            self._root = None
        self._dirs: dict[str, int | None] = {}

    def lstat(self, rel: str) -> os.stat_result | None:
        """The ``lstat`` of ``rel`` under the root, or None when it is not there (or names
        something that is not a plain path below the root: ``..``, ``.``)."""
        rel = rel.strip("/")
        if any(part in ("", ".", "..") for part in rel.split("/")):
            return None
        head, _, name = rel.rpartition("/")
        fd = self._dir(head)
        if fd is None or not name:
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        return self.lstat(rel) is not None

    def dir(self, rel: str) -> int | None:
        """A descriptor of the directory ``rel`` (the root for ""), reached through real
        directories only; None when it is not one. Borrowed: closed with the view."""
        return self._dir(rel.strip("/"))

    def _dir(self, rel: str) -> int | None:
        if not rel or self._root is None:
            return self._root
        if rel in self._dirs:
            return self._dirs[rel]
        parts = rel.split("/")
        known = len(parts) - 1
        while known > 0 and "/".join(parts[:known]) not in self._dirs:
            known -= 1
        fd = self._root if known == 0 else self._dirs["/".join(parts[:known])]
        for i in range(known, len(parts)):
            opened: int | None = None
            if fd is not None:
                try:
                    opened = os.open(parts[i], _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    opened = None
            self._remember("/".join(parts[: i + 1]), opened)
            fd = opened
        return fd

    def _remember(self, rel: str, fd: int | None) -> None:
        self._dirs[rel] = fd
        while len(self._dirs) > self.CACHE:
            oldest = next(iter(self._dirs))
            old_fd = self._dirs.pop(oldest)
            if old_fd is not None:
                os.close(old_fd)

    def close(self) -> None:
        for fd in self._dirs.values():
            if fd is not None:
                os.close(fd)
        self._dirs.clear()
        if self._root is not None:
            os.close(self._root)
            self._root = None

    def __enter__(self) -> Beneath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Writing a directory tree as a tar stream: for commit (layer diffs), cp and export.

Owners, modes, times, xattrs and hard links are kept. For an overlayfs upper directory,
``overlay_whiteouts`` turns overlay's whiteouts (0/0 character devices) and opaque
directories back into the ``.wh.`` entries of the image format.

The trees read here may be a running container's, changing as they are read: every
entry is reached from its directory's descriptor and opened with ``O_NOFOLLOW`` (a
directory swapped for a link is not entered, a file swapped for one is not read through
it), files are opened without blocking (a FIFO put in a file's place cannot stall the
copy), and what is archived is what the open descriptor shows. The walk is a loop, not a
recursion, and keeps at most :data:`OPEN_LEVELS` directories open, so no depth is too deep.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cove.archive.apply import OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX, WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.host.inroot import fd_path

COPY_BUFFER = 1 << 20
OPEN_LEVELS = 64
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _xattrs(target: int | str, follow: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(target, name, follow_symlinks=follow)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("latin-1")
    return out


@dataclass
class _Level:
    """A directory of the walk: its descriptor (None while closed to save descriptors), its
    name in the directory above, its path in the archive, and the entries still to add."""

    fd: int | None
    name: str
    rel: str
    entries: list[str] = field(default_factory=list)


class TreeTar:
    """Adds files from the host to a tar stream under chosen names."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=COPY_BUFFER)  # noqa: SIM115
        self.tar.copybufsize = COPY_BUFFER  # type: ignore[attr-defined]
        self.links: dict[tuple[int, int], str] = {}
        self.count = 0  # entries written

    def _addfile(self, info: tarfile.TarInfo, source: BinaryIO | None = None) -> None:
        self.tar.addfile(info, source)
        self.count += 1

    def add(self, path: str, name: str) -> None:
        """Add one filesystem object (not its children) as ``name``."""
        parent, base = os.path.split(path.rstrip("/") or "/")
        fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.add_at(fd, base or ".", name)
        finally:
            os.close(fd)

    def add_at(self, dir_fd: int, entry: str, name: str) -> os.stat_result | None:
        """Add ``entry`` of the directory ``dir_fd`` (not followed, not its children) as
        ``name``; its status, or None when it is gone or is a socket."""
        try:
            st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        info = tarfile.TarInfo(name)
        info.uname = info.gname = ""
        if stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(entry, _FILE, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP):
                    return None  # gone, or swapped for a link, since it was listed
                raise
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or a device: not read
                    return None
                key = (st.st_dev, st.st_ino)
                _describe(info, st, _xattrs(fd, True))
                if st.st_nlink > 1 and key in self.links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = self.links[key]
                    self._addfile(info)
                    return st
                if st.st_nlink > 1:
                    self.links[key] = name
                info.size = st.st_size
                self._addfile(info, f)  # exactly st_size bytes, or OSError if it shrank
            return st
        try:  # pinned: what is described below is this very object, whatever the name holds later
            pin = os.open(entry, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(pin)
            if stat.S_ISLNK(st.st_mode):
                xattrs = _xattrs(fd_path(dir_fd, entry), False)  # (a link's own, never followed)
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink("", dir_fd=pin)
            else:
                xattrs = _xattrs(fd_path(pin), True)
                if stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                    info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                elif stat.S_ISFIFO(st.st_mode):
                    info.type = tarfile.FIFOTYPE
                else:
                    return None  # sockets have no place in an archive (nor a file that just appeared)
        finally:
            os.close(pin)
        _describe(info, st, xattrs)
        self._addfile(info)
        return st

    def add_empty(self, name: str, mtime: int = 0) -> None:
        info = tarfile.TarInfo(name)
        info.mtime = mtime
        self._addfile(info)

    def add_tree(
        self,
        root: str | int,
        prefix: str = "",
        *,
        overlay_whiteouts: bool = False,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        """Add what is under ``root`` (a path, or a directory descriptor that stays the
        caller's); names are ``prefix`` + the path under root."""
        top = os.open(root, _DIR & ~os.O_NOFOLLOW) if isinstance(root, str) else os.dup(root)
        stack = [_Level(top, "", "", _listing(top))]
        try:
            while stack:
                level = stack[-1]
                if not level.entries:
                    stack.pop()
                    if level.fd is not None:
                        os.close(level.fd)
                    continue
                child = level.entries.pop()
                child_rel = f"{level.rel}/{child}" if level.rel else child
                if skip is not None and skip(child_rel):
                    continue
                fd = self._reopen(stack)
                try:
                    st = os.stat(child, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if overlay_whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    head, _, base = child_rel.rpartition("/")
                    self.add_empty(
                        _join(prefix, f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base)
                    )
                    continue
                added = self.add_at(fd, child, _join(prefix, child_rel))
                if added is None or not stat.S_ISDIR(added.st_mode):
                    continue
                try:
                    child_fd = os.open(child, _DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        continue  # gone or swapped since it was listed: nothing under it to add
                    raise
                if overlay_whiteouts and _opaque(child_fd):
                    self.add_empty(_join(prefix, f"{child_rel}/{OPAQUE_MARKER}"))
                stack.append(_Level(child_fd, child, child_rel, _listing(child_fd)))
                if len(stack) > OPEN_LEVELS:  # keep the descriptors few: reopened by name when needed
                    far = stack[-OPEN_LEVELS - 1]
                    if far.fd is not None:
                        os.close(far.fd)
                        far.fd = None
        finally:
            for level in stack:
                if level.fd is not None:
                    os.close(level.fd)

    @staticmethod
    def _reopen(stack: list[_Level]) -> int:
        """The descriptor of the deepest level, opening it again from the nearest open one
        above (each step without following links) if it was closed."""
        start = max(i for i, level in enumerate(stack) if level.fd is not None)
        fd = stack[start].fd
        assert fd is not None
        for level in stack[start + 1 :]:
            fd = level.fd = os.open(level.name, _DIR, dir_fd=fd)
        return fd

    def close(self) -> None:
        self.tar.close()


def _describe(info: tarfile.TarInfo, st: os.stat_result, xattrs: dict[str, str]) -> None:
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if xattrs:
        info.pax_headers = xattrs


def _listing(fd: int) -> list[str]:
    """A directory's entries, in reverse order: popped from the end, they come out sorted."""
    return sorted(os.listdir(fd), reverse=True)


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OVERLAY_OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _join(prefix: str, rel: str) -> str:
    return f"{prefix.rstrip('/')}/{rel}" if prefix else rel


def add_paths(tar: TreeTar, items: Iterable[tuple[str, str]]) -> None:
    """Add (host path, archive name) pairs, descending into directories."""
    for path, name in items:
        tar.add(path, name)
        if os.path.isdir(path) and not os.path.islink(path):
            tar.add_tree(path, name)


def copy_tree(source: int, dest: int, spool_dir: Path) -> None:
    """Copy what is under the directory ``source`` into the directory ``dest`` (descriptors
    both; owners, modes, links, xattrs kept), never following a link on either side."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        tar = TreeTar(spool)
        tar.add_tree(source)
        tar.close()
        spool.seek(0)
        apply_layer(
            TarReader(ChunkReader(iter(lambda: spool.read(COPY_BUFFER), b""))), dest, WhiteoutMode.APPLY
        )

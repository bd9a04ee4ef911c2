"""Applying a layer (a tar stream) to a directory, safely.

Safety rules, which hold for every entry before anything is written:

* names are relative; an absolute name or a ``..`` component is rejected, and so are
  names longer than the kernel's limits (4095 bytes, 255 per component) or deeper than
  :data:`MAX_DEPTH` levels, which no real image needs and which would make a tree that
  tools walking it by path cannot handle;
* every parent directory on the way to an entry must be a real directory: an entry
  that would be written through a symbolic link is rejected (tar writers never emit
  such entries, an attacker does);
* the final component is never followed: an existing symlink there is replaced, not
  written through; hard links must point at something inside the root.

Every operation works on directory descriptors, each directory opened with
``O_NOFOLLOW`` from its parent's descriptor: so the rules hold even while something else
changes the tree (a running container, when ``cp`` copies into it, may swap a directory
for a link at any moment), and nothing outside ``dest`` is ever touched, whatever the
archive holds.

Whiteouts (``.wh.NAME``) and opaque markers (``.wh..wh..opq``) are either kept in the
form overlayfs reads (:attr:`WhiteoutMode.OVERLAY`, for layers stored as overlay lower
directories) or carried out by deleting what they name (:attr:`WhiteoutMode.APPLY`, for
the copy-based snapshotter and for applying a layer onto a full tree).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cove.archive import tarstream as ts
from cove.errors import InternalError, LayerError
from cove.host.inroot import fd_path
from cove.host.trees import remove_tree_at
from cove.oci import layer

WhiteoutMode = layer.WhiteoutMode  # defined with the layer vocabulary, where snapshots see it too
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_DEPTH = 512  # directory levels in an entry's name
MAX_NAME = 4095  # bytes of a whole name (PATH_MAX less the NUL)
MAX_COMPONENT = 255  # bytes of one name in it (NAME_MAX)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FAST_SYMLINK_MAX = 60  # ext4 keeps shorter symlink targets in the inode
_OPEN_DIRS = 128  # directory descriptors kept open at once (an archive is mostly in order)


@dataclass(frozen=True)
class ApplyStats:
    entries: int
    content_size: int  # bytes of file contents (a hard-linked file counts once)
    disk_usage: int  # bytes allocated on disk, as du would count them


class _Applier:
    def __init__(self, root_fd: int, mode: WhiteoutMode) -> None:
        self.root_fd = root_fd
        self.mode = mode
        self.fds: OrderedDict[str, int] = OrderedDict()  # open directories by relative path
        self.created: set[str] = set()  # APPLY mode: what this layer itself wrote
        self.dir_times: list[tuple[list[str], int]] = []
        self.entries = 0
        self.content_size = 0
        self.disk_usage = 0

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    # -- paths ---------------------------------------------------------------------

    @staticmethod
    def split(name: str, member: str) -> list[str]:
        if name.startswith("/"):
            raise LayerError(
                "layer entry has an absolute path, which would write outside the root", member=member
            )
        parts = [p for p in name.split("/") if p and p != "."]
        if ".." in parts:
            raise LayerError(
                "layer entry path contains '..', which would write outside the root", member=member
            )
        if len(parts) > MAX_DEPTH:
            raise LayerError(
                f"layer entry is {len(parts)} directories deep; at most {MAX_DEPTH} are allowed",
                member=member[:200] + "...",
            )
        raw = os.fsencode(name)
        if len(raw) > MAX_NAME or any(len(os.fsencode(p)) > MAX_COMPONENT for p in parts):
            raise LayerError(
                f"layer entry name is too long (at most {MAX_NAME} bytes, {MAX_COMPONENT} per component)",
                member=member[:200] + "...",
            )
        return parts

    def dir_fd(self, parts: list[str], member: str, *, create: bool) -> int:
        """The descriptor of the real directory ``parts`` (made if missing and ``create``).
        Borrowed: valid until the next call."""
        if not parts:
            return self.root_fd
        rel = "/".join(parts)
        found = self.fds.get(rel)
        if found is not None:
            self.fds.move_to_end(rel)
            return found
        start = len(parts) - 1
        while start > 0 and "/".join(parts[:start]) not in self.fds:
            start -= 1
        current = self.fds["/".join(parts[:start])] if start else self.root_fd
        for i in range(start, len(parts)):
            sub = "/".join(parts[: i + 1])
            current = self._open_child(current, parts[i], sub, member, create=create)
        return current

    def _open_child(self, parent: int, name: str, rel: str, member: str, *, create: bool) -> int:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise LayerError(
                    f"hard link target directory {rel!r} does not exist", member=member
                ) from None
            os.mkdir(name, 0o755, dir_fd=parent)
            self.note_created(rel)
            self.disk_usage += 4096
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise LayerError(
                    f"layer entry would be written through the symbolic link {rel!r}", member=member
                ) from None
            raise LayerError(
                f"layer entry is inside {rel!r}, which is not a directory", member=member
            ) from None
        self.fds[rel] = fd
        while len(self.fds) > _OPEN_DIRS:
            os.close(self.fds.popitem(last=False)[1])
        return fd

    def forget_dirs(self, rel: str) -> None:
        """``rel`` (and what is under it) is no more: drop their descriptors."""
        prefix = rel + "/"
        for key in [k for k in self.fds if k == rel or k.startswith(prefix)]:
            os.close(self.fds.pop(key))

    def note_created(self, rel: str) -> None:
        if self.mode is WhiteoutMode.APPLY:
            self.created.add(rel)

    def remove(self, parent: int, name: str, rel: str) -> None:
        """Remove whatever is at ``name`` in ``parent`` (never following a symlink)."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.forget_dirs(rel)
            remove_tree_at(parent, name)
        else:
            os.unlink(name, dir_fd=parent)

    # -- entries ---------------------------------------------------------------------

    def apply(self, reader: ts.TarReader) -> ApplyStats:
        for entry in reader:
            self.entries += 1
            member = entry.name
            try:
                self.apply_entry(reader, entry)
            except LayerError:
                raise
            except ValueError as exc:  # e.g. a NUL byte in a PAX path
                raise LayerError(f"invalid layer entry: {exc}", member=member) from None
            except OSError as exc:
                raise InternalError(
                    f"unpacking layer entry {member!r} failed: {exc.strerror or exc}"
                ) from exc
        for parts, mtime_ns in reversed(self.dir_times):
            # (a directory removed by a later entry has no time left to set)
            with contextlib.suppress(LayerError, FileNotFoundError):
                os.utime(self.dir_fd(parts, "", create=False), ns=(mtime_ns, mtime_ns))
        return ApplyStats(self.entries, self.content_size, self.disk_usage)

    def apply_entry(self, reader: ts.TarReader, e: ts.TarEntry) -> None:
        parts = self.split(e.name, e.name)
        if not parts:  # the root directory itself
            if e.type == ts.DIRECTORY:
                self.set_fd_metadata(self.root_fd, e)
                self.dir_times.append(([], int(e.mtime * 1e9)))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(parts, e.name)
            return
        parent = self.dir_fd(parts[:-1], e.name, create=True)
        rel = "/".join(parts)
        kind = e.type
        if kind == ts.REGULAR:
            self.regular(reader, e, parent, base, rel)
        elif kind == ts.DIRECTORY:
            self.directory(e, parent, parts)
        elif kind == ts.SYMLINK:
            self.create(lambda: os.symlink(e.linkname, base, dir_fd=parent), parent, base, rel)
            self.set_name_metadata(parent, base, e)
            if len(os.fsencode(e.linkname)) >= _FAST_SYMLINK_MAX:
                self.disk_usage += 4096
        elif kind == ts.HARDLINK:
            self.hardlink(e, parts)
        elif kind in (ts.CHARDEV, ts.BLOCKDEV):
            fmt = stat.S_IFCHR if kind == ts.CHARDEV else stat.S_IFBLK
            dev = os.makedev(e.devmajor, e.devminor)
            self.create(lambda: os.mknod(base, fmt | 0o600, dev, dir_fd=parent), parent, base, rel)
            self.set_special_metadata(parent, base, e, fmt)
        elif kind == ts.FIFO:
            self.create(lambda: os.mkfifo(base, 0o600, dir_fd=parent), parent, base, rel)
            self.set_special_metadata(parent, base, e, stat.S_IFIFO)

    def create(self, make: Callable[[], None], parent: int, name: str, rel: str) -> None:
        try:
            make()
        except FileExistsError:
            self.remove(parent, name, rel)
            make()
        self.note_created(rel)

    def regular(self, reader: ts.TarReader, e: ts.TarEntry, parent: int, name: str, rel: str) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, name, rel)
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            write = os.write
            for chunk in reader.data():
                view = chunk
                while view:
                    view = view[write(fd, view) :]
            self.set_fd_metadata(fd, e)
            self.disk_usage += os.fstat(fd).st_blocks * 512
        finally:
            os.close(fd)
        self.content_size += e.size
        self.note_created(rel)

    def directory(self, e: ts.TarEntry, parent: int, parts: list[str]) -> None:
        name, rel = parts[-1], "/".join(parts)
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            self.disk_usage += 4096
        except FileExistsError:
            if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                self.remove(parent, name, rel)
                os.mkdir(name, 0o700, dir_fd=parent)
                self.disk_usage += 4096
        self.note_created(rel)
        fd = self.dir_fd(parts, e.name, create=False)
        self.set_fd_metadata(fd, e, times=False)
        self.dir_times.append((parts, int(e.mtime * 1e9)))

    def hardlink(self, e: ts.TarEntry, parts: list[str]) -> None:
        target_parts = self.split(e.linkname, e.name)
        if not target_parts:
            raise LayerError("hard link to the root directory", member=e.name)
        target_dir = os.dup(self.dir_fd(target_parts[:-1], e.name, create=False))
        try:
            parent = self.dir_fd(parts[:-1], e.name, create=True)
            name, rel = parts[-1], "/".join(parts)

            def link() -> None:
                os.link(
                    target_parts[-1], name, src_dir_fd=target_dir, dst_dir_fd=parent, follow_symlinks=False
                )

            try:
                self.create(link, parent, name, rel)
            except FileNotFoundError:
                raise LayerError(
                    f"hard link target {e.linkname!r} does not exist in this layer", member=e.name
                ) from None
            except PermissionError:
                raise LayerError(f"hard link target {e.linkname!r} is a directory", member=e.name) from None
        finally:
            os.close(target_dir)

    def whiteout(self, parts: list[str], member: str) -> None:
        base = parts[-1]
        parent = self.dir_fd(parts[:-1], member, create=True)
        parent_rel = "/".join(parts[:-1])
        if base == OPAQUE_MARKER:
            if self.mode is WhiteoutMode.OVERLAY:
                os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y")
            else:
                for child in os.listdir(parent):
                    child_rel = f"{parent_rel}/{child}" if parent_rel else child
                    if child_rel not in self.created:
                        self.remove(self.dir_fd(parts[:-1], member, create=False), child, child_rel)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk and friends) means nothing here
        victim = base[len(WHITEOUT_PREFIX) :]
        if victim in ("", ".", ".."):
            raise LayerError("invalid whiteout entry", member=member)
        rel = f"{parent_rel}/{victim}" if parent_rel else victim
        self.remove(parent, victim, rel)
        if self.mode is WhiteoutMode.OVERLAY:
            os.mknod(
                victim, stat.S_IFCHR, os.makedev(0, 0), dir_fd=self.dir_fd(parts[:-1], member, create=False)
            )

    # -- metadata ------------------------------------------------------------------

    def set_fd_metadata(self, fd: int, e: ts.TarEntry, *, times: bool = True) -> None:
        """Owner, mode, xattrs (and times) of an open file or directory."""
        os.fchown(fd, e.uid, e.gid)
        os.fchmod(fd, e.mode)  # after chown, which clears set-id bits
        if e.xattrs:
            self.set_xattrs(fd, e.xattrs)  # after chown, which drops file capabilities
        if times:
            mtime_ns = int(e.mtime * 1e9)
            os.utime(fd, ns=(mtime_ns, mtime_ns))

    def set_name_metadata(self, parent: int, name: str, e: ts.TarEntry) -> None:
        """Owner, xattrs and times of a symbolic link (no mode: links have none)."""
        os.chown(name, e.uid, e.gid, dir_fd=parent, follow_symlinks=False)
        if e.xattrs:
            self.set_xattrs(fd_path(parent, name), e.xattrs, follow=False)
        mtime_ns = int(e.mtime * 1e9)
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)

    def set_special_metadata(self, parent: int, name: str, e: ts.TarEntry, fmt: int) -> None:
        """A device or FIFO: pinned by an O_PATH descriptor, so that chmod (which has no
        'do not follow' on Linux) reaches that very inode and never a link put in its place."""
        os.chown(name, e.uid, e.gid, dir_fd=parent, follow_symlinks=False)
        pin = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if stat.S_IFMT(os.fstat(pin).st_mode) != fmt:
                raise InternalError(f"{name} was replaced while it was being made")
            os.chmod(fd_path(pin), e.mode)
            if e.xattrs:
                self.set_xattrs(fd_path(pin), e.xattrs)
        finally:
            os.close(pin)
        mtime_ns = int(e.mtime * 1e9)
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)

    @staticmethod
    def set_xattrs(target: int | str, xattrs: dict[str, bytes], follow: bool = True) -> None:
        for key, value in xattrs.items():
            if key.startswith("trusted.overlay."):
                continue  # only cove decides what overlayfs sees
            try:
                os.setxattr(target, key, value, follow_symlinks=follow)
            except OSError as exc:
                if exc.errno in (errno.ENOTSUP, errno.EPERM) and key != "security.capability":
                    continue  # e.g. an SELinux label on a host without SELinux
                raise


def apply_layer(reader: ts.TarReader, dest: Path | int, mode: WhiteoutMode) -> ApplyStats:
    """Apply the tar entries from ``reader`` onto the directory ``dest`` (a path, or an open
    directory descriptor, which stays the caller's)."""
    fd = dest if isinstance(dest, int) else os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    applier = _Applier(fd, mode)
    try:
        return applier.apply(reader)
    finally:
        applier.close()
        if not isinstance(dest, int):
            os.close(fd)

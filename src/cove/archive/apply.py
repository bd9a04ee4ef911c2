"""Applying a layer (a tar stream) to a directory, safely.

Safety rules, which hold for every entry before anything is written:

* names are relative; an absolute name or a ``..`` component is rejected;
* every parent directory on the way to an entry must be a real directory: an entry
  that would be written through a symbolic link is rejected (tar writers never emit
  such entries, an attacker does);
* the final component is never followed: an existing symlink there is replaced, not
  written through; hard links must point at something inside the root.

So nothing outside ``dest`` is ever touched, whatever the archive holds.

Whiteouts (``.wh.NAME``) and opaque markers (``.wh..wh..opq``) are either kept in the
form overlayfs reads (:attr:`WhiteoutMode.OVERLAY`, for layers stored as overlay lower
directories) or carried out by deleting what they name (:attr:`WhiteoutMode.APPLY`, for
the copy-based snapshotter and for applying a layer onto a full tree).
"""

from __future__ import annotations

import enum
import errno
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cove.archive import tarstream as ts
from cove.errors import InternalError, LayerError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FAST_SYMLINK_MAX = 60  # ext4 keeps shorter symlink targets in the inode


class WhiteoutMode(enum.Enum):
    OVERLAY = "overlay"
    APPLY = "apply"


@dataclass(frozen=True)
class ApplyStats:
    entries: int
    content_size: int  # bytes of file contents (a hard-linked file counts once)
    disk_usage: int  # bytes allocated on disk, as du would count them


class _Applier:
    def __init__(self, dest: Path, mode: WhiteoutMode) -> None:
        self.root = os.fspath(dest)
        self.mode = mode
        self.dirs: set[str] = {""}  # relative paths known to be real directories
        self.created: set[str] = set()  # APPLY mode: what this layer itself wrote
        self.dir_times: list[tuple[str, int]] = []
        self.entries = 0
        self.content_size = 0
        self.disk_usage = 0

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
        return parts

    def ensure_dirs(self, parts: list[str], member: str, *, create: bool) -> str:
        """Make sure ``parts`` is a chain of real directories; return its absolute path."""
        rel = "/".join(parts)
        if rel in self.dirs:
            return self.root + "/" + rel if rel else self.root
        cur = ""
        for comp in parts:
            cur = f"{cur}/{comp}" if cur else comp
            if cur in self.dirs:
                continue
            path = self.root + "/" + cur
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise LayerError(
                        f"hard link target directory {cur!r} does not exist", member=member
                    ) from None
                os.mkdir(path, 0o755)
                self.note_created(cur)
                self.disk_usage += 4096
                self.dirs.add(cur)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise LayerError(
                    f"layer entry would be written through the symbolic link {cur!r}", member=member
                )
            if not stat.S_ISDIR(st.st_mode):
                raise LayerError(f"layer entry is inside {cur!r}, which is not a directory", member=member)
            self.dirs.add(cur)
        return self.root + "/" + rel

    def note_created(self, rel: str) -> None:
        if self.mode is WhiteoutMode.APPLY:
            self.created.add(rel)

    def remove(self, path: str, rel: str) -> None:
        """Remove whatever is at ``path`` (never following a symlink)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            prefix = rel + "/"
            self.dirs = {d for d in self.dirs if d != rel and not d.startswith(prefix)}
        else:
            os.unlink(path)

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
        for path, mtime_ns in reversed(self.dir_times):
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        return ApplyStats(self.entries, self.content_size, self.disk_usage)

    def apply_entry(self, reader: ts.TarReader, e: ts.TarEntry) -> None:
        parts = self.split(e.name, e.name)
        if not parts:  # the root directory itself
            if e.type == ts.DIRECTORY:
                self.set_metadata(self.root, e, is_link=False)
                self.dir_times.append((self.root, int(e.mtime * 1e9)))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(parts, e.name)
            return
        parent = self.ensure_dirs(parts[:-1], e.name, create=True)
        rel = "/".join(parts)
        path = f"{parent}/{base}"
        kind = e.type
        if kind == ts.REGULAR:
            self.regular(reader, e, path, rel)
        elif kind == ts.DIRECTORY:
            self.directory(e, path, rel)
        elif kind == ts.SYMLINK:
            self.create(lambda: os.symlink(e.linkname, path), path, rel)
            self.set_metadata(path, e, is_link=True)
            if len(os.fsencode(e.linkname)) >= _FAST_SYMLINK_MAX:
                self.disk_usage += 4096
        elif kind == ts.HARDLINK:
            self.hardlink(e, path, rel)
        elif kind in (ts.CHARDEV, ts.BLOCKDEV):
            fmt = stat.S_IFCHR if kind == ts.CHARDEV else stat.S_IFBLK
            dev = os.makedev(e.devmajor, e.devminor)
            self.create(lambda: os.mknod(path, fmt | e.mode, dev), path, rel)
            self.set_metadata(path, e, is_link=False)
        elif kind == ts.FIFO:
            self.create(lambda: os.mkfifo(path, e.mode), path, rel)
            self.set_metadata(path, e, is_link=False)

    def create(self, make: Callable[[], None], path: str, rel: str) -> None:
        try:
            make()
        except FileExistsError:
            self.remove(path, rel)
            make()
        self.note_created(rel)

    def regular(self, reader: ts.TarReader, e: ts.TarEntry, path: str, rel: str) -> None:
        try:
            fd = os.open(path, _FILE_FLAGS, 0o600)
        except FileExistsError:
            self.remove(path, rel)
            fd = os.open(path, _FILE_FLAGS, 0o600)
        try:
            write = os.write
            for chunk in reader.data():
                view = chunk
                while view:
                    view = view[write(fd, view) :]
            os.fchown(fd, e.uid, e.gid)
            os.fchmod(fd, e.mode)  # after chown, which clears set-id bits
            if e.xattrs:
                self.set_xattrs(fd, e.xattrs)  # after chown, which drops file capabilities
            mtime_ns = int(e.mtime * 1e9)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
            self.disk_usage += os.fstat(fd).st_blocks * 512
        finally:
            os.close(fd)
        self.content_size += e.size
        self.note_created(rel)

    def directory(self, e: ts.TarEntry, path: str, rel: str) -> None:
        try:
            os.mkdir(path, 0o700)
            self.disk_usage += 4096
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                self.remove(path, rel)
                os.mkdir(path, 0o700)
                self.disk_usage += 4096
        self.dirs.add(rel)
        self.note_created(rel)
        self.set_metadata(path, e, is_link=False, times=False)
        self.dir_times.append((path, int(e.mtime * 1e9)))

    def hardlink(self, e: ts.TarEntry, path: str, rel: str) -> None:
        target_parts = self.split(e.linkname, e.name)
        if not target_parts:
            raise LayerError("hard link to the root directory", member=e.name)
        target_dir = self.ensure_dirs(target_parts[:-1], e.name, create=False)
        target = f"{target_dir}/{target_parts[-1]}"
        try:
            self.create(lambda: os.link(target, path, follow_symlinks=False), path, rel)
        except FileNotFoundError:
            raise LayerError(
                f"hard link target {e.linkname!r} does not exist in this layer", member=e.name
            ) from None
        except PermissionError:
            raise LayerError(f"hard link target {e.linkname!r} is a directory", member=e.name) from None

    def whiteout(self, parts: list[str], member: str) -> None:
        base = parts[-1]
        parent = self.ensure_dirs(parts[:-1], member, create=True)
        parent_rel = "/".join(parts[:-1])
        if base == OPAQUE_MARKER:
            if self.mode is WhiteoutMode.OVERLAY:
                os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y")
            else:
                for child in os.listdir(parent):
                    child_rel = f"{parent_rel}/{child}" if parent_rel else child
                    if child_rel not in self.created:
                        self.remove(f"{parent}/{child}", child_rel)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk and friends) means nothing here
        victim = base[len(WHITEOUT_PREFIX) :]
        if victim in ("", ".", ".."):
            raise LayerError("invalid whiteout entry", member=member)
        path = f"{parent}/{victim}"
        rel = f"{parent_rel}/{victim}" if parent_rel else victim
        self.remove(path, rel)
        if self.mode is WhiteoutMode.OVERLAY:
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))

    # -- metadata ------------------------------------------------------------------

    def set_metadata(self, path: str, e: ts.TarEntry, *, is_link: bool, times: bool = True) -> None:
        os.chown(path, e.uid, e.gid, follow_symlinks=False)
        if not is_link:
            os.chmod(path, e.mode)
        if e.xattrs:
            self.set_xattrs(path, e.xattrs, follow=not is_link)
        if times:
            mtime_ns = int(e.mtime * 1e9)
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

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


def apply_layer(reader: ts.TarReader, dest: Path, mode: WhiteoutMode) -> ApplyStats:
    """Apply the tar entries from ``reader`` onto the directory ``dest``."""
    return _Applier(dest, mode).apply(reader)

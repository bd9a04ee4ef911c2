"""Writing a directory tree as a tar stream: for commit (layer diffs), cp and export.

Owners, modes, times, xattrs and hard links are kept. For an overlayfs upper directory,
``overlay_whiteouts`` turns overlay's whiteouts (0/0 character devices) and opaque
directories back into the ``.wh.`` entries of the image format.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

from cove.archive.apply import OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX

COPY_BUFFER = 1 << 20


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("latin-1")
    return out


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
        st = os.lstat(path)
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
        xattrs = _xattrs(path)
        if xattrs:
            info.pax_headers = xattrs
        if stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                info.type = tarfile.LNKTYPE
                info.linkname = self.links[key]
                self._addfile(info)
                return
            if st.st_nlink > 1:
                self.links[key] = name
            info.size = st.st_size
            with open(path, "rb") as f:
                self._addfile(info, f)
            return
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
        else:
            return  # sockets have no place in an archive
        self._addfile(info)

    def add_empty(self, name: str, mtime: int = 0) -> None:
        info = tarfile.TarInfo(name)
        info.mtime = mtime
        self._addfile(info)

    def add_tree(
        self,
        root: str,
        prefix: str = "",
        *,
        overlay_whiteouts: bool = False,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        """Add ``root`` and everything below it; names are ``prefix`` + the path under root."""

        def walk(directory: str, rel: str) -> None:
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                return
            if overlay_whiteouts and rel:
                try:
                    if os.getxattr(directory, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y":
                        self.add_empty(_join(prefix, f"{rel}/{OPAQUE_MARKER}"))
                except OSError:
                    pass
            for entry in entries:
                child_rel = f"{rel}/{entry.name}" if rel else entry.name
                if skip is not None and skip(child_rel):
                    continue
                st = entry.stat(follow_symlinks=False)
                if overlay_whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    parent, _, base = child_rel.rpartition("/")
                    self.add_empty(
                        _join(
                            prefix, f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
                        )
                    )
                    continue
                self.add(entry.path, _join(prefix, child_rel))
                if stat.S_ISDIR(st.st_mode):
                    walk(entry.path, child_rel)

        walk(root, "")

    def close(self) -> None:
        self.tar.close()


def _join(prefix: str, rel: str) -> str:
    return f"{prefix.rstrip('/')}/{rel}" if prefix else rel


def add_paths(tar: TreeTar, items: Iterable[tuple[str, str]]) -> None:
    """Add (host path, archive name) pairs, descending into directories."""
    for path, name in items:
        tar.add(path, name)
        if os.path.isdir(path) and not os.path.islink(path):
            tar.add_tree(path, name)

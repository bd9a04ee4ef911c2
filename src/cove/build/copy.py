"""COPY's layer: the context files a COPY takes, as a tar, placed as Docker places them.

- A directory source copies its contents, not the directory itself.
- A file source goes to DEST when DEST does not end with ``/`` (DEST is then the file's
  name), else into DEST under its own name; several sources (or a wildcard) need a DEST
  that ends with ``/``.
- A relative DEST is relative to the stage's WORKDIR.
- Owner: ``--chown=UID[:GID]`` (numbers here; names are resolved against the image's
  passwd and group by the caller), else 0:0; mode: the file's own unless ``--chmod``;
  missing parent directories of DEST are made 0755 root-owned.
- Times: the source's mtime is kept (Docker does), which does not enter the cache key.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cove.archive.tarwriter import LayerTarWriter
from cove.build.context import Context, Entry
from cove.errors import InvalidArgument


@dataclass(frozen=True)
class CopyOptions:
    uid: int = 0
    gid: int = 0
    mode: int | None = None  # --chmod, as a number


def parse_chmod(text: str) -> int:
    if not text or any(c not in "01234567" for c in text) or len(text) > 4:
        raise InvalidArgument(f"invalid --chmod {text!r}: use octal digits, e.g. 0755")
    return int(text, 8)


def parse_numeric_chown(text: str) -> tuple[int, int] | None:
    """``UID[:GID]`` when numeric (GID defaults to UID, as Docker); None when names are used."""
    user, _, group = text.partition(":")
    if user.isdigit() and (not group or group.isdigit()):
        uid = int(user)
        return uid, int(group) if group else uid
    return None


def destinations(context: Context, sources: list[str], dest: str, workdir: str) -> list[tuple[str, str]]:
    """(context path, path in the image) for every source, per Docker's rules."""
    target = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    into_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    if len(sources) > 1 and not (dest.endswith("/") or dest in (".", "./")):
        raise InvalidArgument(f"when copying several sources the destination must end with /: {dest!r}")
    out = []
    for source in sources:
        found = context.kind(source)
        if found is not None and stat.S_ISDIR(found.st_mode):
            out.append((source, posixpath.normpath(target)))
        elif into_dir:
            out.append((source, posixpath.normpath(posixpath.join(target, posixpath.basename(source)))))
        else:
            out.append((source, posixpath.normpath(target)))
    return out


def _parents(path: str) -> Iterator[str]:
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive(source: Path | BinaryIO) -> bool:
    """A tar, plain or gzip/bzip2/xz-compressed, that ADD unpacks (judged by content, as Docker).
    ``source``: the file, or a readable, seekable file object of it."""
    try:
        with open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source) as f:
            f.seek(0)
            head = f.read(512)
            if head.startswith(_ARCHIVE_MAGIC):
                f.seek(0)
                try:
                    with tarfile.open(fileobj=f, mode="r:*") as tar:
                        return tar.next() is not None
                except (tarfile.TarError, OSError, EOFError):
                    return False
    except OSError:
        return False
    return len(head) == 512 and head[257:262] == b"ustar"


def is_archive_in(context: Context, source: str) -> bool:
    """Is the regular file ``source`` leads to in ``context`` an archive ADD unpacks?"""
    found = context.kind(source)
    if found is None or not stat.S_ISREG(found.st_mode):
        return False
    with os.fdopen(context.open_file(source), "rb") as f:
        return is_archive(f)


def write_layer(
    context: Context,
    placements: list[tuple[str, str]],
    options: CopyOptions,
    out: BinaryIO,
    archives: list[tuple[str, str]] | None = None,
    existing: Callable[[str], os.stat_result | None] | None = None,
    mirror: Path | None = None,
) -> int:
    """Write the tar of a COPY to ``out``; returns how many entries it holds.

    ``archives``: (source in the context, directory in the image) pairs of tar files whose
    contents ADD unpacks there, owners and modes as the archive has them unless
    ``--chown``/``--chmod`` say otherwise. ``existing(path)``: the image's own directory at
    ``path``, if it has one: a parent that exists goes into the layer as it is (owner, mode,
    time), since a layer's directory entry sets what the merged directory shows. ``mirror``:
    a directory to make the same entries in as they are written (not with ``archives``).
    Every source is read inside the context (see ``build.context``)."""
    if mirror is not None and archives:
        raise ValueError("archives are not mirrored")
    tar = LayerTarWriter(out, str(mirror) if mirror is not None else None)
    seen: set[str] = set()

    def add_dir(name: str, mode: int = 0o755, mtime: float = 0) -> None:
        if name in seen or not name:
            return
        seen.add(name)
        uid = gid = 0
        found = existing(name) if existing is not None else None
        if found is not None:
            mode, mtime = stat.S_IMODE(found.st_mode), found.st_mtime
            uid, gid = found.st_uid, found.st_gid
        tar.directory(name, mode=mode, uid=uid, gid=gid, mtime=int(mtime))

    def add(entry: Entry, name: str) -> None:
        st = entry.st
        mode = options.mode if options.mode is not None else stat.S_IMODE(st.st_mode)
        owner = {"uid": options.uid, "gid": options.gid, "mtime": int(st.st_mtime)}
        if stat.S_ISDIR(st.st_mode):
            add_dir(name, mode, st.st_mtime)
        elif stat.S_ISLNK(st.st_mode):
            tar.symlink(name, entry.readlink(), mode=mode, **owner)
            seen.add(name)
        elif stat.S_ISREG(st.st_mode):
            fd = entry.open()
            try:
                tar.file(name, fd, size=st.st_size, mode=mode, **owner)
            finally:
                os.close(fd)
            seen.add(name)
        # sockets, devices and fifos in a context are not copied

    for source, target in placements:
        name = target.lstrip("/")
        for parent in _parents("/" + name):
            add_dir(parent)
        for entry in context.walk(source):
            if entry.rel == "":  # the source itself: a directory stands for its contents
                if name or not stat.S_ISDIR(entry.st.st_mode):
                    add(entry, name)
                continue
            add(entry, posixpath.join(name, entry.rel) if name else entry.rel)
    for archive, directory in archives or []:
        prefix = directory.strip("/")
        for parent in _parents("/" + prefix + "/x") if prefix else ():
            add_dir(parent)
        with (
            os.fdopen(context.open_file(archive), "rb") as f,
            tarfile.open(fileobj=f, mode="r:*") as source_tar,
        ):
            for member in source_tar:
                inner = posixpath.normpath(member.name.lstrip("/"))
                if inner in (".", "") or inner.startswith("../"):
                    continue
                member.name = posixpath.join(prefix, inner) if prefix else inner
                if member.islnk():
                    target = posixpath.normpath(member.linkname.lstrip("/"))
                    member.linkname = posixpath.join(prefix, target) if prefix else target
                if options.uid or options.gid:
                    member.uid, member.gid = options.uid, options.gid
                if options.mode is not None:
                    member.mode = options.mode
                if member.isdir():
                    if member.name in seen:
                        continue
                    seen.add(member.name)
                tar.member(member, source_tar.extractfile(member) if member.isreg() else None)
    tar.close()
    return tar.count

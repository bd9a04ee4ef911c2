"""A lean tar writer for layers: ustar headers built directly, PAX records only when needed.

``tarfile`` spends most of a small file's time in header bookkeeping; a layer of
thousands of small files (a COPY of a source tree) is dominated by it. This writer makes
the 512-byte ustar header itself and falls back to a PAX extended header for what ustar
cannot hold (long or non-ASCII names and link targets, sizes of 8 GiB and more, large
ids, extended attributes). Its output reads back with any tar reader.
"""

from __future__ import annotations

import os
import tarfile
from typing import IO, BinaryIO

BLOCK = 512
_SMALL = 1 << 20  # files up to this size are read in one call
REGULAR, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = b"0", b"1", b"2", b"3", b"4", b"5", b"6"
_MAX_OCTAL_8 = 0o7777777  # what an 8-byte octal field holds
_MAX_OCTAL_12 = 0o77777777777


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length = len(str(length).encode()) + len(body)
    return str(length).encode() + body


def _split_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for ustar, or None when the name cannot be split to fit."""
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    cut = name.rfind(b"/", 0, 156)
    while cut > 0:
        if len(name) - cut - 1 <= 100:
            return name[:cut], name[cut + 1 :]
        cut = name.rfind(b"/", 0, cut)
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class LayerTarWriter:
    """Writes entries to ``out``; with ``mirror``, also makes each one under that directory
    (owner, mode and times included), so a layer and its unpacked files come from one read
    of the sources. Parents must come before their children."""

    def __init__(self, out: BinaryIO, mirror: str | None = None) -> None:
        self.out = out
        self.mirror = mirror
        self.count = 0
        self._dir_times: list[tuple[str, int]] = []  # set last: adding children moves them

    def _header(
        self,
        name: str,
        kind: bytes,
        *,
        mode: int,
        uid: int,
        gid: int,
        mtime: int,
        size: int = 0,
        linkname: str = "",
        devmajor: int = 0,
        devminor: int = 0,
        xattrs: dict[str, str] | None = None,
    ) -> None:
        pax: dict[str, str] = {}
        raw_name = name.encode("utf-8", "surrogateescape")
        split = _split_name(raw_name) if raw_name.isascii() else None
        if split is None:
            pax["path"] = name
            split = (b"", raw_name[:100])
        raw_link = linkname.encode("utf-8", "surrogateescape")
        if len(raw_link) > 100 or not raw_link.isascii():
            pax["linkpath"] = linkname
            raw_link = b""
        if size > _MAX_OCTAL_12:
            pax["size"] = str(size)
        for key, value in (("uid", uid), ("gid", gid)):
            if value > _MAX_OCTAL_8:
                pax[key] = str(value)
        if xattrs:
            pax.update({f"SCHILY.xattr.{k}": v for k, v in xattrs.items()})
        if pax:
            records = b"".join(_pax_record(k, v) for k, v in pax.items())
            self._raw_header(b"././@PaxHeader", b"x", 0o644, 0, 0, mtime, len(records), b"", 0, 0, b"")
            self._data(records)
        prefix, short = split
        self._raw_header(
            short,
            kind,
            mode,
            min(uid, _MAX_OCTAL_8),
            min(gid, _MAX_OCTAL_8),
            mtime,
            min(size, _MAX_OCTAL_12),
            raw_link,
            devmajor,
            devminor,
            prefix,
        )

    def _raw_header(
        self,
        name: bytes,
        kind: bytes,
        mode: int,
        uid: int,
        gid: int,
        mtime: int,
        size: int,
        linkname: bytes,
        devmajor: int,
        devminor: int,
        prefix: bytes,
    ) -> None:
        header = b"".join(
            (
                name.ljust(100, b"\0"),
                _octal(mode & 0o7777, 8),
                _octal(uid, 8),
                _octal(gid, 8),
                _octal(size, 12),
                _octal(max(0, min(mtime, _MAX_OCTAL_12)), 12),
                b"        ",  # the checksum field counts as spaces while summing
                kind,
                linkname.ljust(100, b"\0"),
                b"ustar\x0000",
                b"\0" * 64,  # user and group names: numeric ids only, as in layers
                _octal(devmajor, 8),
                _octal(devminor, 8),
                prefix.ljust(155, b"\0"),
                b"\0" * 12,
            )
        )
        checksum = b"%06o\0 " % sum(header)
        self.out.write(header[:148] + checksum + header[156:])

    def _data(self, data: bytes) -> None:
        self.out.write(data)
        pad = -len(data) % BLOCK
        if pad:
            self.out.write(b"\0" * pad)

    # -- entries -----------------------------------------------------------------------------

    def directory(self, name: str, *, mode: int, uid: int = 0, gid: int = 0, mtime: int = 0) -> None:
        self._header(name.rstrip("/") + "/", DIRECTORY, mode=mode, uid=uid, gid=gid, mtime=mtime)
        self.count += 1
        if self.mirror is not None:
            path = f"{self.mirror}/{name}"
            if not os.path.isdir(path):
                os.mkdir(path)
            os.chown(path, uid, gid)
            os.chmod(path, mode & 0o7777)
            self._dir_times.append((path, mtime))

    def symlink(
        self, name: str, target: str, *, mode: int = 0o777, uid: int = 0, gid: int = 0, mtime: int = 0
    ) -> None:
        self._header(name, SYMLINK, mode=mode, uid=uid, gid=gid, mtime=mtime, linkname=target)
        self.count += 1
        if self.mirror is not None:
            path = f"{self.mirror}/{name}"
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(target, path)
            os.lchown(path, uid, gid)
            os.utime(path, (mtime, mtime), follow_symlinks=False)

    def file(
        self,
        name: str,
        source: str | int,
        *,
        size: int,
        mode: int,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
    ) -> None:
        """A regular file's entry with ``size`` bytes (from a stat) of ``source``: a path, or an
        open descriptor (which stays the caller's)."""
        self._header(name, REGULAR, mode=mode, uid=uid, gid=gid, mtime=mtime, size=size)
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC) if isinstance(source, str) else source
        path = source if isinstance(source, str) else name
        copy = -1
        try:
            if self.mirror is not None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
                copy = os.open(f"{self.mirror}/{name}", flags, 0o600)
            written = 0
            while written < size:
                chunk = os.read(fd, min(size - written, _SMALL))
                if not chunk:
                    raise OSError(f"{path} shrank while it was being archived")
                self.out.write(chunk)
                if copy >= 0:
                    _write_all(copy, chunk)
                written += len(chunk)
            if copy >= 0:
                os.fchown(copy, uid, gid)
                os.fchmod(copy, mode & 0o7777)
                os.utime(copy, (mtime, mtime))
        finally:
            if isinstance(source, str):
                os.close(fd)
            if copy >= 0:
                os.close(copy)
        pad = -size % BLOCK
        if pad:
            self.out.write(b"\0" * pad)
        self.count += 1

    def member(self, info: tarfile.TarInfo, source: IO[bytes] | None = None) -> None:
        """An entry read from another archive (ADD of a tar), through tarfile's own encoder."""
        if self.mirror is not None:
            raise ValueError("archive members are not mirrored: unpack the layer instead")
        self.out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if source is not None and info.size:
            remaining = info.size
            while remaining:
                chunk = source.read(min(remaining, _SMALL))
                if not chunk:
                    raise OSError(f"{info.name} is truncated in its archive")
                self.out.write(chunk)
                remaining -= len(chunk)
            pad = -info.size % BLOCK
            if pad:
                self.out.write(b"\0" * pad)
        self.count += 1

    def close(self) -> None:
        self.out.write(b"\0" * (2 * BLOCK))
        for path, mtime in reversed(self._dir_times):
            os.utime(path, (mtime, mtime))

"""Detecting and undoing the compressions layers come in: gzip, zstd (and bzip2, xz for import).

gzip goes through ISA-L (``isal``) when it is installed: it inflates about three times
faster than zlib, which is most of the time a pull or an import of a gzip layer takes.
"""

from __future__ import annotations

import bz2
import lzma
import types
import zlib
from typing import BinaryIO, Protocol

import zstandard

from cove.errors import LayerError

_gzip_impl: types.ModuleType
try:  # ISA-L is an optional speed-up; zlib gives the same bytes
    from isal import isal_zlib as _gzip_impl
except ImportError:  # pragma: no cover - depends on the installed wheels
    _gzip_impl = zlib

GZIP = "gzip"
ZSTD = "zstd"
BZIP2 = "bzip2"
XZ = "xz"
NONE = ""

_MAGIC = (
    (b"\x1f\x8b", GZIP),
    (b"\x28\xb5\x2f\xfd", ZSTD),
    (b"BZh", BZIP2),
    (b"\xfd7zXZ\x00", XZ),
)


def detect(head: bytes) -> str:
    """The compression of a stream that starts with ``head`` ("" when uncompressed)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return NONE


class Decompressor(Protocol):
    def decompress(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Identity:
    def decompress(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _Gzip:
    """Inflates gzip, including several members one after another (as pigz can write)."""

    def __init__(self) -> None:
        self._obj = _gzip_impl.decompressobj(31)

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            try:
                out.append(self._obj.decompress(data))
            except (zlib.error, _gzip_impl.error) as exc:
                raise LayerError(f"corrupt gzip data: {exc}") from None
            if not self._obj.eof:
                break
            data = self._obj.unused_data
            # Trailing zero padding after the last member is common and harmless.
            if data and data.strip(b"\0"):
                self._obj = _gzip_impl.decompressobj(31)
            else:
                data = b""
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._obj.eof:
            raise LayerError("gzip data is truncated (unexpected end of stream)")
        return b""


class _Zstd:
    def __init__(self) -> None:
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._ended = False

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            try:
                out.append(self._obj.decompress(data))
            except zstandard.ZstdError as exc:
                raise LayerError(f"corrupt zstd data: {exc}") from None
            self._ended = self._obj.eof
            if not self._obj.eof:
                break
            data = self._obj.unused_data
            if data:
                self._obj = self._dctx.decompressobj()
                self._ended = False
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._ended:
            raise LayerError("zstd data is truncated (unexpected end of stream)")
        return b""


class _Stdlib:
    def __init__(self, obj: bz2.BZ2Decompressor | lzma.LZMADecompressor, name: str) -> None:
        self._obj = obj
        self._name = name

    def decompress(self, data: bytes) -> bytes:
        try:
            return self._obj.decompress(data)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise LayerError(f"corrupt {self._name} data: {exc}") from None

    def finish(self) -> bytes:
        if not self._obj.eof:
            raise LayerError(f"{self._name} data is truncated (unexpected end of stream)")
        return b""


def decompressor(kind: str) -> Decompressor:
    if kind == NONE:
        return _Identity()
    if kind == GZIP:
        return _Gzip()
    if kind == ZSTD:
        return _Zstd()
    if kind == BZIP2:
        return _Stdlib(bz2.BZ2Decompressor(), "bzip2")
    if kind == XZ:
        return _Stdlib(lzma.LZMADecompressor(), "xz")
    raise LayerError(f"unsupported compression {kind!r}")


class DecompressingReader:
    """A read-only file object that yields the decompressed bytes of ``raw``."""

    def __init__(self, raw: BinaryIO, chunk_size: int = 1 << 20) -> None:
        self._raw = raw
        self._chunk_size = chunk_size
        self._buf = b""
        self._pos = 0
        self._inflater: Decompressor | None = None
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        out = []
        want = n if n >= 0 else float("inf")
        got = 0
        while got < want:
            if self._pos >= len(self._buf) and (self._eof or not self._refill()):
                break
            take = int(min(want - got, len(self._buf) - self._pos))
            out.append(self._buf[self._pos : self._pos + take])
            self._pos += take
            got += take
        return b"".join(out)

    def _refill(self) -> bool:
        while True:
            data = self._raw.read(self._chunk_size)
            if self._inflater is None:
                self._inflater = decompressor(detect(data))
            if not data:
                self._eof = True
                self._buf, self._pos = self._inflater.finish(), 0
                return bool(self._buf)
            out = self._inflater.decompress(data)
            if out:
                self._buf, self._pos = out, 0
                return True

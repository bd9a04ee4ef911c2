"""Writing tar archives (image archives, generated layers) with Python's tarfile, PAX format."""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO

COPY_BUFFER = 1 << 20


class TarWriter:
    """Append entries to a tar stream; :meth:`close` writes the end-of-archive marker."""

    def __init__(self, out: BinaryIO, *, mtime: float = 0) -> None:
        self._tar = tarfile.open(  # noqa: SIM115 - closed by close()
            fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=COPY_BUFFER
        )
        self._tar.copybufsize = COPY_BUFFER  # type: ignore[attr-defined]
        self._mtime = mtime

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = int(self._mtime)
        info.uname = info.gname = ""
        return info

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, mode))

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))

    def add_stream(self, name: str, size: int, source: BinaryIO, mode: int = 0o644) -> None:
        """Add ``size`` bytes read from ``source`` (which must hold at least that many)."""
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = size
        self._tar.addfile(info, source)

    def add_entry(self, info: tarfile.TarInfo, source: BinaryIO | None = None) -> None:
        self._tar.addfile(info, source)

    def close(self) -> None:
        self._tar.close()

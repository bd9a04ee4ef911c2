"""Reading an ELF executable's program interpreter (its dynamic loader), if it has one."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import BinaryIO

PT_INTERP = 3
MAX_INTERP = 4096  # a loader's path is a path: PATH_MAX at most


class NotElf(ValueError):
    pass


def program_interpreter(source: Path | BinaryIO) -> str | None:
    """The loader a dynamic executable asks for (None for a static one); NotElf if not ELF.
    ``source``: the file, or a readable, seekable file object of it."""
    path = source if isinstance(source, Path) else getattr(source, "name", "the file")
    try:
        with open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source) as f:
            f.seek(0)
            head = f.read(64)
            if head[:4] != b"\x7fELF":
                raise NotElf(str(path))
            if len(head) < 6:  # the magic, then no class or byte order: a header cut short
                raise NotElf(f"{path}: truncated ELF header")
            is64 = head[4] == 2
            endian = "<" if head[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack_from(endian + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
            else:
                (phoff,) = struct.unpack_from(endian + "I", head, 28)
                phentsize, phnum = struct.unpack_from(endian + "HH", head, 42)
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                entry = f.read(phentsize)
                (p_type,) = struct.unpack_from(endian + "I", entry, 0)
                if p_type != PT_INTERP:
                    continue
                if is64:
                    offset, _vaddr, _paddr, size = struct.unpack_from(endian + "QQQQ", entry, 8)
                else:
                    offset, _vaddr, _paddr, size = struct.unpack_from(endian + "IIII", entry, 4)
                f.seek(offset)
                return f.read(min(size, MAX_INTERP)).rstrip(b"\0").decode(errors="replace")
    except struct.error as exc:
        raise NotElf(f"{path}: {exc}") from None
    return None


def is_static(path: Path) -> bool:
    try:
        return program_interpreter(path) is None
    except (NotElf, OSError):
        return False

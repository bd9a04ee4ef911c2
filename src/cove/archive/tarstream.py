"""A streaming tar reader for layers: ustar, GNU long names, PAX headers and xattrs.

It reads headers straight from a :class:`ChunkReader` and lets the caller consume each
entry's data as memoryview slices, so file contents go from the decompressor to the
disk without extra copies. Damaged archives (bad checksums, truncation) raise
:class:`LayerError`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field

from cove.archive.stream import ChunkReader
from cove.errors import LayerError

BLOCK = 512

REGULAR = "0"
HARDLINK = "1"
SYMLINK = "2"
CHARDEV = "3"
BLOCKDEV = "4"
DIRECTORY = "5"
FIFO = "6"
_CONTIGUOUS = "7"
_PAX_LOCAL = "x"
_PAX_GLOBAL = "g"
_GNU_LONGNAME = "L"
_GNU_LONGLINK = "K"
_GNU_SPARSE = "S"
_KNOWN = frozenset({REGULAR, HARDLINK, SYMLINK, CHARDEV, BLOCKDEV, DIRECTORY, FIFO})


@dataclass(slots=True)
class TarEntry:
    name: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _cstr(field_: bytes) -> bytes:
    end = field_.find(b"\0")
    return field_ if end < 0 else field_[:end]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _number(field_: bytes, what: str) -> int:
    if field_ and field_[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        value = int.from_bytes(field_[1:], "big")
        if field_[0] & 0x40:  # negative
            value -= 1 << (8 * (len(field_) - 1) + 6)
        else:
            value |= (field_[0] & 0x3F) << (8 * (len(field_) - 1))
        return value
    text = _cstr(field_).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"not a valid tar archive: bad {what} field {text[:20]!r}") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _cstr(block[148:156]).strip(b" \0")
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:])  # the field counts as 8 spaces
    if unsigned == expected:
        return True
    signed = sum((b - 256 if b > 127 else b) for b in block[:148] + block[156:]) + 256
    return signed == expected


def _parse_pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise LayerError("not a valid tar archive: malformed PAX header") from None
        if length <= 0 or pos + length > len(data):
            raise LayerError("not a valid tar archive: malformed PAX header")
        record = data[space + 1 : pos + length - 1]  # drop the trailing newline
        key, eq, value = record.partition(b"=")
        if not eq:
            raise LayerError("not a valid tar archive: malformed PAX record")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


class TarReader:
    """Iterate entries; read each entry's data with :meth:`data` before asking for the next."""

    def __init__(self, reader: ChunkReader) -> None:
        self._r = reader
        self._remaining = 0  # unread data bytes of the current entry
        self._padding = 0
        self._global_pax: dict[str, bytes] = {}
        self.entries_read = 0

    def data(self) -> Iterator[memoryview]:
        """The current entry's contents, as slices (each at most one stream chunk)."""
        n, self._remaining = self._remaining, 0
        yield from self._r.views(n)

    def _skip_rest(self) -> None:
        if self._remaining or self._padding:
            self._r.skip(self._remaining + self._padding)
            self._remaining = self._padding = 0

    def _read_block(self) -> bytes | None:
        block = self._r.read(BLOCK)
        if not block:
            return None
        if len(block) < BLOCK:
            raise LayerError("layer is truncated (unexpected end of data in a tar header)")
        return block

    def _read_extension(self, size: int) -> bytes:
        data = self._r.read(size)
        if len(data) < size:
            raise LayerError("layer is truncated (unexpected end of data in a tar header)")
        pad = -size % BLOCK
        if pad:
            self._r.skip(pad)
        return data

    def __iter__(self) -> Iterator[TarEntry]:
        first = True
        while True:
            self._skip_rest()
            pax: dict[str, bytes] = {}
            long_name: bytes | None = None
            long_link: bytes | None = None
            while True:  # extension headers that apply to the next real one
                block = self._read_block()
                if block is None:
                    if first:
                        raise LayerError("not a tar archive (empty input)")
                    return  # end of stream without the two zero blocks: tolerated
                if block == b"\0" * BLOCK:
                    # End-of-archive marker. Whatever follows is padding to a record size.
                    self._r.read_to_end()
                    return
                if not _checksum_ok(block):
                    if first:
                        raise LayerError("not a tar archive (bad header checksum in the first block)")
                    raise LayerError(
                        f"not a valid tar archive: bad header checksum at byte {self._r.offset - BLOCK}"
                    )
                first = False
                typeflag = chr(block[156]) if block[156] else REGULAR
                size = _number(block[124:136], "size")
                if typeflag == _PAX_LOCAL:
                    pax.update(_parse_pax(self._read_extension(size)))
                elif typeflag == _PAX_GLOBAL:
                    self._global_pax.update(_parse_pax(self._read_extension(size)))
                elif typeflag == _GNU_LONGNAME:
                    long_name = _cstr(self._read_extension(size))
                elif typeflag == _GNU_LONGLINK:
                    long_link = _cstr(self._read_extension(size))
                else:
                    break
            entry = self._entry(block, typeflag, size, {**self._global_pax, **pax}, long_name, long_link)
            self.entries_read += 1
            # Only regular files have data blocks (as tar and Python's tarfile read them).
            if entry.type == REGULAR:
                self._remaining = entry.size
                self._padding = -entry.size % BLOCK
            yield entry

    def _entry(
        self,
        block: bytes,
        typeflag: str,
        size: int,
        pax: dict[str, bytes],
        long_name: bytes | None,
        long_link: bytes | None,
    ) -> TarEntry:
        if typeflag == _GNU_SPARSE or any(k.startswith("GNU.sparse.") for k in pax):
            raise LayerError(
                "sparse files in layers are not supported", hint="re-create the tar without --sparse"
            )
        if typeflag == _CONTIGUOUS:
            typeflag = REGULAR
        if typeflag not in _KNOWN:
            raise LayerError(f"unsupported tar entry type {typeflag!r}", member=_decode(_cstr(block[:100])))
        magic = block[257:265]
        name = _cstr(block[0:100])
        if magic[:6] == b"ustar\0":  # POSIX ustar: a prefix field extends the name
            prefix = _cstr(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        if long_name is not None:
            name = long_name
        linkname = long_link if long_link is not None else _cstr(block[157:257])
        mtime: float = _number(block[136:148], "mtime")
        uid = _number(block[108:116], "uid")
        gid = _number(block[116:124], "gid")
        xattrs: dict[str, bytes] = {}
        if pax:
            if "path" in pax:
                name = pax["path"]
            if "linkpath" in pax:
                linkname = pax["linkpath"]
            try:
                if "size" in pax:
                    size = int(pax["size"])
                if "uid" in pax:
                    uid = int(pax["uid"])
                if "gid" in pax:
                    gid = int(pax["gid"])
                if "mtime" in pax:
                    mtime = float(pax["mtime"])
            except ValueError:
                raise LayerError("not a valid tar archive: bad number in a PAX header") from None
            for key, value in pax.items():
                if key.startswith("SCHILY.xattr."):
                    xattrs[key[len("SCHILY.xattr.") :]] = value
                elif key.startswith("LIBARCHIVE.xattr."):
                    try:
                        xattrs[key[len("LIBARCHIVE.xattr.") :]] = base64.b64decode(value + b"==")
                    except ValueError:
                        raise LayerError("not a valid tar archive: bad xattr encoding") from None
        return TarEntry(
            name=_decode(name),
            type=typeflag,
            size=size,
            mode=_number(block[100:108], "mode") & 0o7777,
            uid=uid,
            gid=gid,
            mtime=mtime,
            linkname=_decode(linkname),
            devmajor=_number(block[329:337], "devmajor") if typeflag in (CHARDEV, BLOCKDEV) else 0,
            devminor=_number(block[337:345], "devminor") if typeflag in (CHARDEV, BLOCKDEV) else 0,
            xattrs=xattrs,
        )

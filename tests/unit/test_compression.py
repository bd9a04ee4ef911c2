import bz2
import gzip
import io
import lzma

import pytest
import zstandard

from cove.archive import compression
from cove.errors import LayerError


def inflate(data: bytes) -> bytes:
    d = compression.decompressor(compression.detect(data))
    out = b"".join(d.decompress(data[i : i + 100]) for i in range(0, len(data), 100))
    return out + d.finish()


@pytest.mark.parametrize(
    ("kind", "pack"),
    [
        ("gzip", gzip.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("bzip2", bz2.compress),
        ("xz", lzma.compress),
        ("", lambda b: b),
    ],
)
def test_detect_and_inflate(kind: str, pack: object) -> None:
    data = b"layer bytes " * 1000
    packed = pack(data)  # type: ignore[operator]
    assert compression.detect(packed) == kind
    assert inflate(packed) == data


def test_concatenated_gzip_members() -> None:
    assert inflate(gzip.compress(b"one ") + gzip.compress(b"two")) == b"one two"


def test_gzip_trailing_zero_padding() -> None:
    assert inflate(gzip.compress(b"abc") + b"\0" * 512) == b"abc"


def test_concatenated_zstd_frames() -> None:
    c = zstandard.ZstdCompressor()
    assert inflate(c.compress(b"one ") + c.compress(b"two")) == b"one two"


@pytest.mark.parametrize("pack", [gzip.compress, lambda b: zstandard.ZstdCompressor().compress(b)])
def test_truncation_is_reported(pack: object) -> None:
    packed = pack(b"x" * 100_000 + bytes(range(256)) * 100)  # type: ignore[operator]
    with pytest.raises(LayerError, match="truncated"):
        inflate(packed[: len(packed) // 2])


def test_corrupt_gzip_is_reported() -> None:
    packed = bytearray(gzip.compress(bytes(range(256)) * 400))
    packed[30:60] = b"\xff" * 30
    with pytest.raises(LayerError, match="corrupt gzip"):
        inflate(bytes(packed))


def test_decompressing_reader() -> None:
    data = bytes(range(256)) * 1000
    reader = compression.DecompressingReader(io.BytesIO(gzip.compress(data)), chunk_size=333)
    parts = []
    while chunk := reader.read(1000):
        parts.append(chunk)
    assert b"".join(parts) == data

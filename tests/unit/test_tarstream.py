"""The streaming tar reader against archives written by Python's tarfile and GNU tar formats."""

import bz2
import gzip
import io
import tarfile

import pytest
import zstandard

from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import DIRECTORY, HARDLINK, REGULAR, SYMLINK, TarReader
from cove.errors import LayerError
from cove.oci.digest import Digest
from tests.helpers.tars import chardev, directory, file, hardlink, make_tar, symlink


def read_all(data: bytes, chunk: int = 7) -> list[tuple[str, str, bytes]]:
    chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
    reader = TarReader(ChunkReader(chunks))
    out = []
    for entry in reader:
        body = b"".join(bytes(v) for v in reader.data()) if entry.type == REGULAR else b""
        out.append((entry.name, entry.type, body))
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_every_format(fmt: int) -> None:
    data = make_tar(
        [
            directory("d"),
            file("d/a", b"hello" * 300),
            symlink("d/l", "a"),
            hardlink("d/h", "d/a"),
            file("e", b""),
        ],
        fmt=fmt,
    )
    assert read_all(data) == [
        ("d/", DIRECTORY, b""),  # names come as written; the applier normalises
        ("d/a", REGULAR, b"hello" * 300),
        ("d/l", SYMLINK, b""),
        ("d/h", HARDLINK, b""),
        ("e", REGULAR, b""),
    ]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_links(fmt: int) -> None:
    long_dir = "/".join(["x" * 60] * 5)
    data = make_tar([file(f"{long_dir}/f", b"1"), symlink("s", "t" * 300)], fmt=fmt)
    chunks = iter([data])
    entries = list(TarReader(ChunkReader(chunks)))
    assert entries[0].name == f"{long_dir}/f"
    assert entries[1].linkname == "t" * 300


def test_ustar_prefix_field() -> None:
    name = "p" * 120 + "/name"
    data = make_tar([file(name, b"z")], fmt=tarfile.USTAR_FORMAT)
    assert read_all(data)[0][0] == name


def test_pax_attributes_xattrs_and_big_ids() -> None:
    xattrs = {"user.k": b"v", "security.capability": b"\x01\x02"}
    data = make_tar(
        [file("f", b"x", mode=0o4755, uid=3_000_000, gid=70000, xattrs=xattrs), chardev("null", 1, 3)]
    )
    entries = list(TarReader(ChunkReader(iter([data]))))
    assert entries[0].uid == 3_000_000 and entries[0].gid == 70000
    assert entries[0].mode == 0o4755
    assert entries[0].xattrs == {"user.k": b"v", "security.capability": b"\x01\x02"}
    assert (entries[1].devmajor, entries[1].devminor) == (1, 3)


def test_gnu_base256_numbers() -> None:
    info = tarfile.TarInfo("big")
    info.uid = 1 << 40  # does not fit in octal: GNU writes base-256
    info.size = 3
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"abc"))
    entries = list(TarReader(ChunkReader(iter([buf.getvalue()]))))
    assert entries[0].uid == 1 << 40


def test_bad_checksum_is_a_clear_error() -> None:
    data = bytearray(make_tar([file("a", b"1"), file("b", b"2")]))
    data[1024 + 10] ^= 0xFF  # damage the second member's header
    with pytest.raises(LayerError, match="bad header checksum"):
        read_all(bytes(data))


def test_not_a_tar_at_all() -> None:
    with pytest.raises(LayerError, match="not a tar archive"):
        read_all(b"hello, this is not a tar archive" * 40)
    with pytest.raises(LayerError, match="empty input"):
        read_all(b"")


def test_truncated_data_is_an_error() -> None:
    data = make_tar([file("a", b"x" * 5000)])
    with pytest.raises(LayerError, match="truncated"):
        read_all(data[:2000])


def test_missing_end_marker_is_tolerated() -> None:
    data = make_tar([file("a", b"x")])
    assert read_all(data[:1024]) == [("a", REGULAR, b"x")]


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("kind", ["plain", "gzip", "zstd"])
def test_layer_stream_digests(kind: str, threaded: bool) -> None:
    tar = make_tar([file("f", bytes(range(256)) * 5000)])
    raw = {"plain": tar, "gzip": gzip.compress(tar), "zstd": zstandard.ZstdCompressor().compress(tar)}[kind]
    sink = io.BytesIO()
    stream = LayerStream(io.BytesIO(raw), sink=sink.write, threaded=threaded, chunk_size=4096)
    plain = b"".join(stream.chunks())
    assert plain == tar
    assert sink.getvalue() == raw
    assert stream.digest == Digest.of(raw)
    assert stream.diff_id == Digest.of(tar)
    assert stream.uncompressed_size == len(tar)


def test_layer_stream_keeps_only_wanted_compressions() -> None:
    tar = make_tar([file("f", b"abc")])
    sink = io.BytesIO()
    stream = LayerStream(io.BytesIO(bz2.compress(tar)), sink=sink.write, keep=frozenset({"", "gzip"}))
    b"".join(stream.chunks())
    assert sink.getvalue() == tar  # bzip2 is not kept: the sink got the plain tar
    assert stream.digest == stream.diff_id == Digest.of(tar)


def test_stopping_early_ends_the_reader_thread() -> None:
    raw = gzip.compress(b"\0" * (8 << 20))
    stream = LayerStream(io.BytesIO(raw), chunk_size=4096)
    chunks = stream.chunks()
    next(chunks)
    chunks.close()  # the consumer gives up: the producer thread must not hang

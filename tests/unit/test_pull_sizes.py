"""A layer download whose bytes are not as many as the manifest's descriptor says."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.content.store import ContentStore
from cove.errors import SizeMismatch
from cove.images.pull import ResumingReader, RetryPolicy
from cove.oci.digest import Digest
from cove.oci.image import Descriptor
from cove.registry.errors import RegistryUnavailable

BLOB = bytes(range(256)) * 8


class Body:
    """A response body with the headers a registry sent; ``broken_at_end`` drops the
    connection once every byte is read, as a peer closing early does."""

    def __init__(self, data: bytes, headers: dict[str, str], broken_at_end: bool = False) -> None:
        self.data = data
        self.headers = headers
        self.broken_at_end = broken_at_end
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if self.broken_at_end and self.pos >= len(self.data):
            raise RegistryUnavailable("connection to test broke: reset")
        out = self.data[self.pos : len(self.data) if n < 0 else self.pos + n]
        self.pos += len(out)
        return out

    def close(self, *, reuse: bool = True) -> None:
        pass


class Repo:
    name = "example.com/sizes"

    def __init__(self, body: Body) -> None:
        self.body = body
        self.opened = 0

    def open_blob(self, digest: object, offset: int = 0) -> tuple[Body, int]:
        self.opened += 1
        return self.body, 0


@contextlib.contextmanager
def _reader(tmp_path: Path, repo: Repo, size: int) -> Iterator[ResumingReader]:
    layer = Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.of(BLOB), size)
    partial = ContentStore(tmp_path / "content").partial(layer.digest, size)
    reader = ResumingReader(repo, layer, partial, RetryPolicy(attempts=3, first_delay=0.001))  # type: ignore[arg-type]
    try:
        yield reader
    finally:
        reader.close()
        partial.discard()


def _read_all(reader: ResumingReader) -> bytes:
    parts = []
    while data := reader.read(700):
        parts.append(data)
    return b"".join(parts)


@pytest.mark.parametrize("size", [len(BLOB) - 1, len(BLOB) + 1])
def test_a_content_length_other_than_the_size_fails_at_once(tmp_path: Path, size: int) -> None:
    repo = Repo(Body(BLOB, {"content-length": str(len(BLOB))}))
    with (
        pytest.raises(SizeMismatch, match=f"says {size} bytes, the content has {len(BLOB)}"),
        _reader(tmp_path, repo, size) as reader,
    ):
        _read_all(reader)
    assert repo.opened == 1  # wrong bytes are not retried


def test_more_bytes_than_the_size_without_content_length(tmp_path: Path) -> None:
    repo = Repo(Body(BLOB, {}))
    size = len(BLOB) - 10
    with (
        pytest.raises(SizeMismatch, match=f"example.com/sizes .*says {size} bytes, the content has more"),
        _reader(tmp_path, repo, size) as reader,
    ):
        _read_all(reader)


def test_a_connection_broken_after_the_last_byte_is_a_whole_blob(tmp_path: Path) -> None:
    repo = Repo(Body(BLOB, {}, broken_at_end=True))
    with _reader(tmp_path, repo, len(BLOB)) as reader:
        assert _read_all(reader) == BLOB

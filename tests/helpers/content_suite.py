"""The content-store conformance suite: what any store of blobs by digest must do.

It is written against :class:`Content`, the interface the engine uses, and a
:class:`ContentSubject` that says how to look behind it (what unfinished writes left, and
how to damage a stored blob): a test module subclasses :class:`ContentStoreConformance`
and gives it a ``subject`` fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from cove.errors import DigestMismatch, InternalError, NotFound
from cove.host.trees import OnFailure
from cove.oci.digest import Digest


class Writer(AbstractContextManager["Writer"], Protocol):
    size: int

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self, digest: Digest | None = None, what: str = "blob") -> Digest: ...

    def abort(self) -> None: ...


class Partial(Protocol):
    offset: int

    def append(self, data: bytes | memoryview) -> None: ...

    def commit(self, actual: Digest) -> Digest: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


class Content(Protocol):
    """Blobs by digest: verified before visible."""

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def open(self, digest: str) -> AbstractContextManager[object]: ...

    def read(self, digest: str, *, verify: bool = True) -> bytes: ...

    def writer(self, expected: Digest | None = None, expected_size: int | None = None) -> Writer: ...

    def put(self, data: bytes, expected: Digest | None = None) -> Digest: ...

    def delete(self, digest: str) -> None: ...

    def digests(self) -> Iterator[Digest]: ...

    def disk_usage(self, digest: str) -> int: ...

    def partial(self, digest: Digest, size: int) -> Partial: ...

    def clean_ingest(self, failed: OnFailure) -> int: ...


@dataclass
class ContentSubject:
    store: Content
    leftovers: Callable[[], list[str]]  # what unfinished writes left behind the store
    corrupt: Callable[[Digest], None]  # change a stored blob's bytes behind the store's back


BLOB = b"layer bytes " * 1000
DIGEST = Digest.of(BLOB)


def _failed(path: Path, exc: Exception) -> None:
    raise AssertionError(f"cleanup failed on {path}: {exc}")


class ContentStoreConformance:
    def test_a_blob_is_visible_only_once_verified(self, subject: ContentSubject) -> None:
        store = subject.store
        with store.writer(DIGEST, len(BLOB)) as w:
            w.write(BLOB[:100])
            w.write(memoryview(BLOB)[100:])
            assert not store.exists(DIGEST) and list(store.digests()) == []
            with pytest.raises(NotFound):
                store.open(DIGEST)
            assert w.commit() == DIGEST
        assert store.exists(DIGEST) and store.size(DIGEST) == len(BLOB)
        assert store.read(DIGEST) == BLOB and list(store.digests()) == [DIGEST]
        assert store.disk_usage(DIGEST) > 0
        assert subject.leftovers() == []

    def test_a_writer_without_expectations_names_what_it_wrote(self, subject: ContentSubject) -> None:
        store = subject.store
        with store.writer() as w:
            w.write(b"anything")
            digest = w.commit()
        assert digest == Digest.of(b"anything") and w.size == 8
        assert store.read(digest) == b"anything"

    @pytest.mark.parametrize(
        ("expected", "size", "message"),
        [
            (Digest.of(b"something else"), len(BLOB), "digest"),
            (DIGEST, len(BLOB) + 1, "bytes"),
            (DIGEST, len(BLOB) - 1, "bytes"),
        ],
    )
    def test_a_mismatch_is_refused_and_leaves_nothing(
        self, subject: ContentSubject, expected: Digest, size: int, message: str
    ) -> None:
        store = subject.store
        with pytest.raises(DigestMismatch, match=message), store.writer(expected, size) as w:
            w.write(BLOB)
            w.commit()
        assert not store.exists(expected) and not store.exists(DIGEST)
        assert list(store.digests()) == [] and subject.leftovers() == []

    def test_put_checks_what_it_is_given(self, subject: ContentSubject) -> None:
        store = subject.store
        with pytest.raises(DigestMismatch):
            store.put(BLOB, Digest.of(b"other"))
        assert list(store.digests()) == []
        assert store.put(BLOB, DIGEST) == DIGEST
        assert store.put(BLOB) == DIGEST  # again: the same blob, nothing new
        assert list(store.digests()) == [DIGEST] and subject.leftovers() == []

    def test_an_aborted_write_leaves_nothing(self, subject: ContentSubject) -> None:
        store = subject.store
        w = store.writer(DIGEST)
        w.write(BLOB)
        w.abort()
        w.abort()
        with pytest.raises(RuntimeError), store.writer(DIGEST) as w2:
            w2.write(BLOB[:10])
            raise RuntimeError("the source broke")  # leaving the block aborts it
        assert not store.exists(DIGEST) and subject.leftovers() == []

    def test_concurrent_writers_of_the_same_blob(self, subject: ContentSubject) -> None:
        store = subject.store
        writers = 6
        start = threading.Barrier(writers)
        results: list[Digest] = []
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with store.writer(DIGEST, len(BLOB)) as w:
                    start.wait()
                    for i in range(0, len(BLOB), 1000):
                        w.write(BLOB[i : i + 1000])
                    results.append(w.commit())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == [] and results == [DIGEST] * writers
        assert store.read(DIGEST) == BLOB and list(store.digests()) == [DIGEST]
        assert subject.leftovers() == []

    def test_what_unfinished_writes_left_is_cleaned(self, subject: ContentSubject) -> None:
        store = subject.store
        store.put(b"kept")
        died = store.writer(DIGEST)  # a writer whose process died before it committed
        died.write(BLOB[:500])
        assert subject.leftovers() != []
        assert store.clean_ingest(_failed) >= 1
        assert subject.leftovers() == []
        assert not store.exists(DIGEST) and store.read(Digest.of(b"kept")) == b"kept"
        died.abort()  # (what its process would have done: harmless now)

    def test_a_download_kept_for_later_survives_cleanup_and_resumes(self, subject: ContentSubject) -> None:
        store = subject.store
        first = store.partial(DIGEST, len(BLOB))
        assert first.offset == 0
        first.append(BLOB[:4000])
        first.close()  # interrupted
        store.clean_ingest(_failed)
        again = store.partial(DIGEST, len(BLOB))
        assert again.offset == 4000
        again.append(BLOB[4000:])
        assert not store.exists(DIGEST)
        assert again.commit(DIGEST) == DIGEST
        assert store.read(DIGEST) == BLOB and subject.leftovers() == []

    def test_a_download_of_the_wrong_bytes_is_not_kept(self, subject: ContentSubject) -> None:
        store = subject.store
        partial = store.partial(DIGEST, len(BLOB))
        partial.append(b"x" * len(BLOB))
        with pytest.raises(DigestMismatch):
            partial.commit(Digest.of(b"x" * len(BLOB)))
        assert not store.exists(DIGEST) and list(store.digests()) == [] and subject.leftovers() == []
        short = store.partial(DIGEST, len(BLOB) + 1)
        short.append(BLOB)
        with pytest.raises(DigestMismatch, match="bytes"):
            short.commit(DIGEST)
        assert not store.exists(DIGEST) and subject.leftovers() == []

    def test_reads_of_a_missing_blob(self, subject: ContentSubject) -> None:
        store = subject.store
        assert not store.exists(DIGEST)
        for read in (store.open, store.size, store.read):
            with pytest.raises(NotFound, match=f"blob {DIGEST} is not in the content store"):
                read(DIGEST)
        assert store.disk_usage(DIGEST) == 0
        store.delete(DIGEST)  # nothing to delete: no error

    def test_a_damaged_blob_is_not_read_as_good(self, subject: ContentSubject) -> None:
        store = subject.store
        digest = store.put(b'{"config": true}')
        subject.corrupt(digest)
        with pytest.raises(InternalError, match="corrupt"):
            store.read(digest)

    def test_delete(self, subject: ContentSubject) -> None:
        store = subject.store
        one, two = store.put(b"one"), store.put(b"two")
        store.delete(one)
        assert not store.exists(one) and list(store.digests()) == [two]

"""Blobs by digest under ``content/blobs/sha256/<hex>``.

A blob becomes visible only whole and verified: writers fill a temporary file under
``content/ingest/`` and rename it into place once its digest (and size, when known) are
checked, and once its bytes are on disk (flushed before the rename, the directory after
it), so that a power loss never leaves a name without its content. A crash leaves at
most an ingest file, which :meth:`ContentStore.clean_ingest` removes when no writer is
active (the caller holds the store's exclusive lock). Blobs being downloaded are the
exception: ``ingest/partial-<hex>`` files stay for a day, so an interrupted pull resumes
where it stopped (:class:`PartialBlob`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from cove.errors import FULL_ERRNOS, DigestMismatch, InternalError, NoSpace, NotFound
from cove.host.flush import Flush, Flusher
from cove.host.locks import FileLock
from cove.host.trees import OnFailure, remove_tree
from cove.oci.digest import Digest, is_digest

PARTIAL_PREFIX = "partial-"
PARTIAL_KEEP = 24 * 3600  # seconds an interrupted download is kept to be resumed


@contextmanager
def _writing(what: str, path: Path) -> Iterator[None]:
    """A full disk met while writing ``path`` is said as such (a buffered write or a close
    names no file)."""
    try:
        yield
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise NoSpace(what, path) from exc
        raise


class BlobNotFound(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__(f"blob {digest} is not in the content store")


class BlobWriter:
    """Write a blob; :meth:`commit` verifies it and makes it visible."""

    def __init__(self, store: ContentStore, expected: Digest | None, expected_size: int | None) -> None:
        self._store = store
        self._expected = expected
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self.size = 0
        self._tmp = store.ingest_dir / f"{os.getpid()}-{secrets.token_hex(8)}"
        self._file: BinaryIO | None = open(self._tmp, "xb")  # noqa: SIM115 - closed in commit/abort
        self.digest: Digest | None = None

    def write(self, data: bytes | memoryview) -> None:
        assert self._file is not None, "write after commit"
        self._hash.update(data)
        with _writing("an image blob", self._tmp):
            self._file.write(data)
        self.size += len(data)

    def write_prehashed(self, data: bytes | memoryview) -> None:
        """Write bytes whose digest the caller computes (see :meth:`commit`'s ``digest``)."""
        assert self._file is not None, "write after commit"
        with _writing("an image blob", self._tmp):
            self._file.write(data)
        self.size += len(data)

    def commit(self, digest: Digest | None = None, what: str = "blob") -> Digest:
        """Verify and publish. ``digest`` is the caller's own hash of what it wrote."""
        assert self._file is not None, "commit twice"
        file, self._file = self._file, None
        actual = digest or Digest.from_hex(self._hash.hexdigest())
        try:
            try:
                if self._expected is not None and actual != self._expected:
                    raise DigestMismatch(what, self._expected, actual)
                if self._expected_size is not None and self.size != self._expected_size:
                    raise DigestMismatch(what, f"{self._expected_size} bytes", f"{self.size} bytes")
                with _writing("an image blob", self._tmp):
                    file.flush()
                    self._store.flush.file(file.fileno())  # the bytes before the name
            finally:
                with _writing("an image blob", self._tmp):
                    file.close()
            os.chmod(self._tmp, 0o444)
            os.rename(self._tmp, self._store.path(actual))
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._store.flush.directory(self._store.blobs_dir)  # the name
        self.digest = actual
        return actual

    def abort(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # a full disk fails the flush: the file goes anyway
                file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self.abort()


class PartialBlob:
    """A blob being downloaded, kept across interruptions; one writer at a time (a flock
    that waits while another process fetches the same blob)."""

    def __init__(self, store: ContentStore, digest: Digest, size: int) -> None:
        self.store = store
        self.digest = digest
        self.size = size
        self.path = store.ingest_dir / f"{PARTIAL_PREFIX}{digest.hex}"
        self._lock = _acquire_current(self.path.with_name(self.path.name + ".lock"))
        try:
            with _writing("a download", self.path):
                self._file: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115 - closed in commit/close
                self.offset = self._file.tell()
                if self.offset > size:  # not this blob's beginning after all
                    self._file.truncate(0)
                    self.offset = 0
        except BaseException:
            self._lock.release()  # nobody else may wait for this blob forever
            raise

    def replay(self) -> BinaryIO:
        """What an earlier attempt already downloaded, to be read again."""
        return open(self.path, "rb")

    def append(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        with _writing("a download", self.path):
            self._file.write(data)

    def commit(self, actual: Digest) -> Digest:
        """Publish the downloaded blob once it proved to be the one asked for."""
        assert self._file is not None
        file, self._file = self._file, None
        try:
            with _writing("a download", self.path):
                try:
                    file.flush()
                    if actual == self.digest:
                        self.store.flush.file(file.fileno())  # the bytes before the name
                finally:
                    file.close()
            size = self.path.stat().st_size
            if actual != self.digest:
                self.path.unlink(missing_ok=True)  # wrong content: nothing of it is kept
                raise DigestMismatch(f"blob {self.digest.short}", self.digest, actual)
            if size != self.size:
                self.path.unlink(missing_ok=True)
                raise DigestMismatch(f"blob {self.digest.short}", f"{self.size} bytes", f"{size} bytes")
            os.chmod(self.path, 0o444)
            os.rename(self.path, self.store.path(actual))
        finally:
            self._release(remove=True)
        self.store.flush.directory(self.store.blobs_dir)  # the name
        return actual

    def discard(self) -> None:
        try:
            self._close_file()
        finally:
            self.path.unlink(missing_ok=True)
            self._release(remove=True)

    def close(self) -> None:
        """Stop writing; what was downloaded stays for a later attempt (on a full disk, what
        could be written: always a beginning of the blob, so a resume starts after it)."""
        try:
            self._close_file()
        finally:
            self._release()

    def _close_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # a flush on a full disk: that tail is not kept
                file.close()

    def _release(self, *, remove: bool = False) -> None:
        if self._lock.held:
            if remove:  # while still held: a waiter finds it gone and takes the new one
                self._lock.path.unlink(missing_ok=True)
            self._lock.release()


def _acquire_current(path: Path) -> FileLock:
    """Lock ``path``, making sure the lock is on the file that is there now: a holder
    that finished unlinks it, and whoever waited on the old file must lock the new one."""
    while True:
        lock = FileLock(path)
        lock.acquire()
        try:
            if os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                return lock
        except FileNotFoundError:
            pass
        lock.release()


class ContentStore:
    def __init__(self, root: Path, flush: Flush | None = None) -> None:
        self.root = root
        self.flush: Flush = flush or Flusher()
        self.blobs_dir = root / "blobs" / "sha256"
        self.ingest_dir = root / "ingest"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.blobs_dir / Digest(digest).hex

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def read(self, digest: str, *, verify: bool = True) -> bytes:
        """A small blob (manifest, config) in full, checked against its digest."""
        with self.open(digest) as f:
            data = f.read()
        if verify and Digest.of(data) != digest:
            raise InternalError(
                f"blob {digest} in the content store is corrupt",
                hint="remove the image that uses it and load or pull it again",
            )
        return data

    def writer(self, expected: Digest | None = None, expected_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected, expected_size)

    def put(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = Digest.of(data)
        if expected is not None and digest != expected:
            raise DigestMismatch("blob", expected, digest)
        if self.exists(digest):
            return digest
        with self.writer(digest, len(data)) as w:
            w.write(data)
            return w.commit()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[Digest]:
        for entry in os.scandir(self.blobs_dir):
            if is_digest("sha256:" + entry.name):
                yield Digest.from_hex(entry.name)

    def disk_usage(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_blocks * 512
        except FileNotFoundError:
            return 0

    def partial(self, digest: Digest, size: int) -> PartialBlob:
        return PartialBlob(self, digest, size)

    def partials(self) -> list[Path]:
        """Downloads kept to be resumed (``ingest/partial-<hex>``)."""
        return [
            Path(e.path)
            for e in os.scandir(self.ingest_dir)
            if e.name.startswith(PARTIAL_PREFIX) and not e.name.endswith(".lock")
        ]

    def partial_usage(self) -> tuple[int, int]:
        """Bytes on disk of the downloads kept to be resumed: (all, those no pull is writing)."""
        total = idle = 0
        for path in self.partials():
            try:
                size = path.lstat().st_blocks * 512
            except FileNotFoundError:
                continue
            total += size
            lock_path = path.with_name(path.name + ".lock")
            if not lock_path.exists() or FileLock(lock_path).try_free():
                idle += size
        return total, idle

    def reclaim_partials(self) -> int:
        """Remove the kept downloads that no pull is writing (a pull holds its partial's
        flock); returns the bytes freed."""
        freed = 0
        for path in self.partials():
            lock_path = path.with_name(path.name + ".lock")
            lock = FileLock(lock_path)
            try:
                held = lock_path.exists() and not lock.acquire(blocking=False)
            except OSError:
                held = True  # cannot tell: leave it
            if held:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    freed += path.lstat().st_blocks * 512
                    path.unlink()
                lock_path.unlink(missing_ok=True)  # while held: a waiter takes a new one
            finally:
                lock.release()
        return freed

    def clean_ingest(self, failed: OnFailure) -> int:
        """Remove leftovers of interrupted writes; only while no writer can be active.
        Interrupted downloads stay for :data:`PARTIAL_KEEP` seconds, to be resumed."""
        removed = 0
        old = time.time() - PARTIAL_KEEP
        for entry in os.scandir(self.ingest_dir):
            try:
                if entry.name.startswith(PARTIAL_PREFIX) and entry.stat(follow_symlinks=False).st_mtime > old:
                    continue
                remove_tree(entry.path)
                removed += 1
            except OSError as exc:
                failed(Path(entry.path), exc)
        return removed

"""Reading a layer once: hash and keep the raw bytes, decompress, hash again, hand on.

A layer is read exactly once on its way in. Every chunk of the raw (maybe compressed)
stream is hashed (the blob digest) and passed to a sink (the content store's writer),
then decompressed and hashed again (the diffID), and the plain tar bytes go on to
whoever unpacks them. A caller that must not store a compression (OCI has no media
type for bzip2 or xz layers) names the ones to ``keep``; others reach the sink plain.

With ``threaded=True`` the reading, hashing and inflating run in a second thread, so
they overlap with the unpacking in the caller's thread (zlib, ISA-L, zstd, hashlib and
file writes all release the GIL).
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

from cove.archive import compression
from cove.errors import LayerError
from cove.oci.digest import Digest

CHUNK = 1 << 20
_DONE = object()


class LayerStream:
    """One pass over a layer: iterate :meth:`chunks` for the plain tar bytes."""

    def __init__(
        self,
        raw: BinaryIO,
        *,
        sink: Callable[[bytes], None] | None = None,
        keep: frozenset[str] | None = None,
        progress: Callable[[int], None] | None = None,
        threaded: bool = True,
        chunk_size: int = CHUNK,
    ) -> None:
        self._raw = raw
        self._sink = sink
        self._keep = keep
        self._sink_plain = False
        self._progress = progress
        self._threaded = threaded
        self._chunk_size = chunk_size
        self._raw_hash = hashlib.sha256()
        self._diff_hash = hashlib.sha256()
        self.raw_size = 0
        self.uncompressed_size = 0
        self.compression = compression.NONE
        self._finished = False
        self._stop = threading.Event()

    # -- results, valid once chunks() is exhausted ------------------------------------

    @property
    def digest(self) -> Digest:
        """Digest of what went to the sink: the raw bytes, or the plain ones (see ``keep``)."""
        self._check_finished()
        if self._sink_plain:
            return self.diff_id
        return Digest.from_hex(self._raw_hash.hexdigest())

    @property
    def diff_id(self) -> Digest:
        self._check_finished()
        if self.compression == compression.NONE:
            return Digest.from_hex(self._raw_hash.hexdigest())
        return Digest.from_hex(self._diff_hash.hexdigest())

    def _check_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("layer stream read before it was finished")

    # -- the pass --------------------------------------------------------------------

    def _produce(self) -> Iterator[bytes]:
        read = self._raw.read
        first = read(self._chunk_size)
        self.compression = compression.detect(first)
        # The sink gets the raw bytes, unless their compression is not one to keep.
        self._sink_plain = self._keep is not None and self.compression not in self._keep
        inflater = compression.decompressor(self.compression)
        plain = self.compression == compression.NONE
        data = first
        while data:
            if self._stop.is_set():
                return
            self._raw_hash.update(data)
            self.raw_size += len(data)
            if self._sink is not None and not self._sink_plain:
                self._sink(data)
            if self._progress is not None:
                self._progress(len(data))
            out = data if plain else inflater.decompress(data)
            if out:
                if self._sink is not None and self._sink_plain:
                    self._sink(out)
                if not plain:
                    self._diff_hash.update(out)
                self.uncompressed_size += len(out)
                yield out
            data = read(self._chunk_size)
        inflater.finish()
        self._finished = True

    def chunks(self) -> Generator[bytes, None, None]:
        if not self._threaded:
            yield from self._produce()
            return
        q: queue.Queue[object] = queue.Queue(maxsize=8)

        def run() -> None:
            try:
                for chunk in self._produce():
                    q.put(chunk)
                q.put(_DONE)
            except BaseException as exc:  # handed to the consumer, which raises it
                q.put(exc)

        worker = threading.Thread(target=run, name="layer-reader", daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            # The consumer may stop early (an error while unpacking): let the reader end.
            self._stop.set()
            while worker.is_alive():
                with contextlib.suppress(queue.Empty):
                    q.get(timeout=0.05)
            worker.join()


class ChunkReader:
    """Exact-size reads over an iterator of byte chunks, without copying large data."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf: bytes = b""
        self._pos = 0
        self.offset = 0

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf, self._pos = chunk, 0
                return True
        self._buf, self._pos = b"", 0
        return False

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
            self.offset += n
            return out
        parts = [self._buf[self._pos :]]
        got = avail
        while got < n and self._fill():
            take = min(n - got, len(self._buf))
            parts.append(self._buf[:take])
            self._pos = take
            got += take
        self.offset += got
        return b"".join(parts)

    def views(self, n: int) -> Iterator[memoryview]:
        """Yield exactly ``n`` bytes as memoryview slices; raise if the stream ends first."""
        while n > 0:
            avail = len(self._buf) - self._pos
            if avail == 0:
                if not self._fill():
                    raise LayerError("layer is truncated (unexpected end of data)")
                avail = len(self._buf)
            take = min(n, avail)
            yield memoryview(self._buf)[self._pos : self._pos + take]
            self._pos += take
            self.offset += take
            n -= take

    def skip(self, n: int) -> None:
        for _ in self.views(n):
            pass

    def read_to_end(self) -> int:
        """Consume the rest of the stream; return how many bytes there were."""
        rest = len(self._buf) - self._pos
        self.offset += rest
        self._buf, self._pos = b"", 0
        for chunk in self._chunks:
            rest += len(chunk)
            self.offset += len(chunk)
        return rest

"""Unpacking an image's layers into snapshots, each layer once, keyed by its chainID.

When the snapshotter keeps layers independent (overlayfs: each holds only its own diff),
missing layers are unpacked side by side (bounded by the worker count) and committed
bottom-up; else (a copy snapshotter) each layer starts from its parent's files, in order.
A per-chainID file lock stops two cove processes from unpacking the same layer twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cove.archive.apply import apply_layer
from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import TarReader
from cove.content.store import ContentStore
from cove.errors import LayerError, NoSpace, disk_full
from cove.host.locks import FileLock
from cove.images.store import ImageStore
from cove.oci.digest import Digest, chain_ids
from cove.oci.image import Descriptor, ImageConfig, Manifest
from cove.oci.layer import WhiteoutMode
from cove.progress import Progress, ProgressEvent, no_progress
from cove.snapshots.snapshotter import Extraction, SnapshotNotFound, Snapshotter


class ParentMissing(SnapshotNotFound):
    """A layer could not be committed because its parent failed to unpack."""


@dataclass(frozen=True)
class UnpackedLayer:
    chain_id: Digest
    size: int  # bytes of file contents


class LayerInput(Protocol):
    """Where a layer's bytes come from while it is unpacked."""

    raw: BinaryIO
    sink: Callable[[bytes], None] | None  # gets every raw chunk (e.g. to keep the blob)
    status: str  # what progress calls reading it: "Extracting", "Downloading"

    def finish(self, stream: LayerStream) -> None:
        """The stream was read to its end and unpacked: check and keep what must be kept."""

    def close(self, failed: BaseException | None) -> None: ...


LayerOpener = Callable[[Descriptor], LayerInput]


class StoredLayer:
    """A layer from the content store (verified when it was stored)."""

    status = "Extracting"
    sink: Callable[[bytes], None] | None = None

    def __init__(self, content: ContentStore, layer: Descriptor) -> None:
        self.raw = content.open(layer.digest)

    def finish(self, stream: LayerStream) -> None:
        pass

    def close(self, failed: BaseException | None) -> None:
        self.raw.close()


def whiteout_mode(snapshotter: Snapshotter) -> WhiteoutMode:
    """How a layer unpacked into one of ``snapshotter``'s snapshots keeps its whiteouts."""
    return snapshotter.whiteout_mode


class Unpacker:
    def __init__(
        self,
        content: ContentStore,
        snapshotter: Snapshotter,
        images: ImageStore,
        locks_dir: Path,
        workers: int,
    ) -> None:
        self.content = content
        self.snapshotter = snapshotter
        self.images = images
        self.locks_dir = locks_dir
        self.workers = max(1, workers)

    def lock(self, chain_id: str) -> FileLock:
        return FileLock(self.locks_dir / f"layer-{Digest(chain_id).hex}.lock")

    def unpack(
        self,
        manifest: Manifest,
        config: ImageConfig,
        progress: Progress = no_progress,
        *,
        opener: LayerOpener | None = None,
        workers: int | None = None,
    ) -> int:
        """Make sure every layer of the image is a committed snapshot; return the content size.

        ``opener`` gives a missing layer's bytes (default: the content store's blob), and
        ``workers`` bounds how many layers are read at once (default: the unpack workers)."""
        open_layer: LayerOpener = opener or (lambda layer: StoredLayer(self.content, layer))
        workers = workers or self.workers
        diff_ids = config.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise LayerError(
                f"image has {len(manifest.layers)} layers but its config lists {len(diff_ids)} diff IDs"
            )
        chain = chain_ids(diff_ids)
        sizes: dict[int, int] = {}
        missing = []
        for i, key in enumerate(chain):
            info = self.snapshotter.get(key)
            if info is None:
                missing.append(i)
            else:
                sizes[i] = info.size
                progress(ProgressEvent(manifest.layers[i].digest.short, "Already exists"))
        if not missing:
            return sum(sizes.values())
        if self.snapshotter.layers_independent and len(missing) > 1:
            # The first failure in time is the one to report: the others are often its
            # consequences (a full disk fails every layer still being written).
            failures: list[BaseException] = []
            guard = threading.Lock()

            def one(i: int) -> int:
                try:
                    return self._unpack_one(manifest.layers[i], diff_ids[i], chain, i, progress, open_layer)
                except BaseException as exc:
                    with guard:
                        failures.append(exc)
                    raise

            with ThreadPoolExecutor(max_workers=min(workers, len(missing))) as pool:
                futures = {i: pool.submit(one, i) for i in missing}
                for i in missing:
                    if futures[i].exception() is None:  # failures are kept in the order they came
                        sizes[i] = futures[i].result()
            if failures:
                # A layer whose parent failed fails too, maybe before the parent's failure
                # is recorded: the parent's is the one to report.
                causes = [f for f in failures if not isinstance(f, ParentMissing)]
                raise (causes or failures)[0]
        else:
            for i in missing:
                sizes[i] = self._unpack_one(manifest.layers[i], diff_ids[i], chain, i, progress, open_layer)
        return sum(sizes.values())

    def _unpack_one(
        self,
        layer: Descriptor,
        diff_id: Digest,
        chain: list[Digest],
        i: int,
        progress: Progress,
        opener: LayerOpener,
    ) -> int:
        key = chain[i]
        parent = chain[i - 1] if i else None
        lock = self.lock(key)
        with lock.exclusive():
            existing = self.snapshotter.get(key)
            if existing is not None:
                return existing.size
            short = layer.digest.short
            ext = self.snapshotter.begin(parent)
            source: LayerInput | None = None
            chunks: Generator[bytes, None, None] | None = None
            try:
                source = opener(layer)
                total = layer.size
                done = 0
                status = source.status

                def report(n: int) -> None:
                    nonlocal done
                    done += n
                    progress(ProgressEvent(short, status, done, total))

                stream = LayerStream(source.raw, sink=source.sink, progress=report)
                chunks = stream.chunks()
                stats = apply_layer(TarReader(ChunkReader(chunks)), ext.path, whiteout_mode(self.snapshotter))
                source.finish(stream)
                if stream.diff_id != diff_id:
                    raise LayerError(
                        f"layer {layer.digest} unpacks to {stream.diff_id}, "
                        f"but the image config says {diff_id}"
                    )
                self.images.record_layer(layer.digest, diff_id, stream.uncompressed_size)
                self._commit_in_order(ext, key, parent, stats.content_size, stats.disk_usage)
            except BaseException as exc:
                # The stream's reading thread stops first: it still reads the source (and
                # appends to a download) while it runs.
                if chunks is not None:
                    chunks.close()
                # Undoing must not hide what went wrong (on a full disk it fails as well).
                try:
                    ext.abort()
                except Exception as again:
                    exc.add_note(f"while removing the unfinished layer: {again}")
                if source is not None:
                    try:
                        source.close(exc)
                    except Exception as again:
                        exc.add_note(f"while closing the layer's source: {again}")
                if isinstance(exc, LayerError) and short not in exc.message:
                    raise LayerError(f"layer {short}: {exc.message}", hint=exc.hint) from None
                full = disk_full(exc)
                if isinstance(full, OSError):
                    raise NoSpace(f"layer {short}", full.filename or ext.path) from exc
                raise
            source.close(None)
            progress(ProgressEvent(short, "Pull complete" if status == "Downloading" else "Done"))
            return stats.content_size

    def _commit_in_order(
        self, ext: Extraction, key: Digest, parent: Digest | None, size: int, usage: int
    ) -> None:
        # The parent may still be unpacking in another thread: wait for its lock.
        if parent is not None and self.snapshotter.get(parent) is None:
            with self.lock(parent).shared():
                pass
            if self.snapshotter.get(parent) is None:
                raise ParentMissing(parent)
        ext.commit(key, parent, size=size, usage=usage)

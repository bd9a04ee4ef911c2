"""Unpacking an image's layers into snapshots, each layer once, keyed by its chainID.

With the overlayfs driver every layer is an independent directory, so missing layers
are unpacked side by side (bounded by the worker count) and committed bottom-up; with
the copy driver each layer starts from a copy of its parent, so they go in order.
A per-chainID file lock stops two cove processes from unpacking the same layer twice.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import TarReader
from cove.content.store import ContentStore
from cove.errors import LayerError
from cove.host.locks import FileLock
from cove.images.store import ImageStore
from cove.oci.digest import Digest, chain_ids
from cove.oci.image import Descriptor, ImageConfig, Manifest
from cove.progress import Progress, ProgressEvent, no_progress
from cove.snapshots.snapshotter import COPY, Extraction, Snapshotter


@dataclass(frozen=True)
class UnpackedLayer:
    chain_id: Digest
    size: int  # bytes of file contents


def whiteout_mode(snapshotter: Snapshotter) -> WhiteoutMode:
    return WhiteoutMode.APPLY if snapshotter.driver == COPY else WhiteoutMode.OVERLAY


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

    def unpack(self, manifest: Manifest, config: ImageConfig, progress: Progress = no_progress) -> int:
        """Make sure every layer of the image is a committed snapshot; return the content size."""
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
            with ThreadPoolExecutor(max_workers=min(self.workers, len(missing))) as pool:
                futures = {
                    i: pool.submit(self._unpack_one, manifest.layers[i], diff_ids[i], chain, i, progress)
                    for i in missing
                }
                errors = []
                for i in missing:
                    try:
                        sizes[i] = futures[i].result()
                    except BaseException as exc:
                        errors.append(exc)
                if errors:
                    raise errors[0]
        else:
            for i in missing:
                sizes[i] = self._unpack_one(manifest.layers[i], diff_ids[i], chain, i, progress)
        return sum(sizes.values())

    def _unpack_one(
        self, layer: Descriptor, diff_id: Digest, chain: list[Digest], i: int, progress: Progress
    ) -> int:
        key = chain[i]
        parent = chain[i - 1] if i else None
        lock = self.lock(key)
        with lock.exclusive():
            existing = self.snapshotter.get(key)
            if existing is not None:
                return existing.size
            short = layer.digest.short
            ext = self.snapshotter.begin(parent if not self.snapshotter.layers_independent else None)
            try:
                with self.content.open(layer.digest) as blob:
                    total = layer.size
                    done = 0

                    def report(n: int) -> None:
                        nonlocal done
                        done += n
                        progress(ProgressEvent(short, "Extracting", done, total))

                    stream = LayerStream(blob, progress=report)
                    stats = apply_layer(
                        TarReader(ChunkReader(stream.chunks())), ext.path, whiteout_mode(self.snapshotter)
                    )
                if stream.diff_id != diff_id:
                    raise LayerError(
                        f"layer {layer.digest} unpacks to {stream.diff_id}, "
                        f"but the image config says {diff_id}"
                    )
                self.images.record_layer(layer.digest, diff_id, stream.uncompressed_size)
                # A copy snapshot also holds its parent's files: measure it whole.
                usage = stats.disk_usage if self.snapshotter.layers_independent else None
                self._commit_in_order(ext, key, parent, stats.content_size, usage)
            except BaseException:
                ext.abort()
                raise
            progress(ProgressEvent(short, "Done"))
            return stats.content_size

    def _commit_in_order(
        self, ext: Extraction, key: Digest, parent: Digest | None, size: int, usage: int | None
    ) -> None:
        # The parent may still be unpacking in another thread: wait for its lock.
        if parent is not None and self.snapshotter.get(parent) is None:
            with self.lock(parent).shared():
                pass
        ext.commit(key, parent, size=size, usage=usage)

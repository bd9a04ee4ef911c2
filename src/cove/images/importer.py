"""Importing a root filesystem tarball as a one-layer image, in a single pass.

The input is read once: while its bytes are stored as the layer blob, they are also
decompressed and unpacked into the layer's snapshot, so the import is done when the
last byte has been read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from cove.archive import compression
from cove.archive.apply import apply_layer
from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import TarReader
from cove.content.store import ContentStore
from cove.images.store import ImageStore
from cove.images.unpack import Unpacker, whiteout_mode
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, ImageConfig, Manifest
from cove.oci.platform import Platform, host_platform
from cove.oci.reference import Reference
from cove.oci.timestamps import format_rfc3339
from cove.progress import Progress, ProgressEvent, no_progress
from cove.snapshots.snapshotter import Snapshotter

KEPT_COMPRESSIONS = frozenset({compression.NONE, compression.GZIP, compression.ZSTD})


@dataclass(frozen=True)
class ImportedImage:
    id: Digest
    moved_tags: list[tuple[str, str]]


def now_rfc3339() -> str:
    return format_rfc3339(time.time())


def new_config(
    diff_ids: list[Digest],
    *,
    created: str,
    container_config: dict[str, Any],
    history: list[dict[str, Any]],
    platform: Platform | None = None,
) -> ImageConfig:
    plat = platform or host_platform()
    raw: dict[str, Any] = {"architecture": plat.architecture, "os": plat.os}
    if plat.variant:
        raw["variant"] = plat.variant
    raw["created"] = created
    raw["config"] = container_config
    raw["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    raw["history"] = history
    return ImageConfig(raw)


def store_image(
    content: ContentStore,
    images: ImageStore,
    config: ImageConfig,
    layers: list[Descriptor],
    *,
    size: int,
    tags: list[Reference],
) -> ImportedImage:
    """Write config and manifest blobs and record the image under ``tags``."""
    config_bytes = config.to_bytes()
    config_digest = content.put(config_bytes)
    manifest = Manifest(
        mt.OCI_MANIFEST,
        Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
        tuple(layers),
    )
    manifest_digest = content.put(manifest.to_bytes())
    moved = images.add(
        config_digest=config_digest,
        manifest_digest=manifest_digest,
        media_type=mt.OCI_MANIFEST,
        size=size,
        created=config.created,
        tags=tags,
    )
    return ImportedImage(config_digest, moved)


def store_unpacked(
    content: ContentStore,
    images: ImageStore,
    unpacker: Unpacker,
    config: ImageConfig,
    layers: list[Descriptor],
    *,
    tags: list[Reference],
) -> ImportedImage:
    """Record an image whose layer blobs are stored, once each layer is a snapshot too
    (those already unpacked cost a lookup)."""
    config_bytes = config.to_bytes()
    manifest = Manifest(
        mt.OCI_MANIFEST,
        Descriptor(mt.OCI_CONFIG, Digest.of(config_bytes), len(config_bytes)),
        tuple(layers),
    )
    size = unpacker.unpack(manifest, config)
    return store_image(content, images, config, layers, size=size, tags=tags)


def import_rootfs(
    source: BinaryIO,
    *,
    content: ContentStore,
    images: ImageStore,
    snapshotter: Snapshotter,
    unpacker: Unpacker,
    tags: list[Reference],
    container_config: dict[str, Any],
    comment: str,
    platform: Platform | None = None,
    total: int | None = None,
    progress: Progress = no_progress,
) -> ImportedImage:
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        progress(ProgressEvent("import", "Importing", done, total))

    writer = content.writer()
    ext = snapshotter.begin(None)
    try:
        stream = LayerStream(source, sink=writer.write_prehashed, keep=KEPT_COMPRESSIONS, progress=report)
        stats = apply_layer(TarReader(ChunkReader(stream.chunks())), ext.path, whiteout_mode(snapshotter))
        blob_digest = writer.commit(stream.digest, what="layer")
        diff_id = stream.diff_id
        stored_compression = compression.NONE if blob_digest == diff_id else stream.compression
        images.record_layer(blob_digest, diff_id, stream.uncompressed_size)
        # A one-layer image: its chainID is its diffID.
        with unpacker.lock(diff_id).exclusive():
            ext.commit(diff_id, None, size=stats.content_size, usage=stats.disk_usage)
    except BaseException:
        writer.abort()
        ext.abort()
        raise
    created = now_rfc3339()
    config = new_config(
        [diff_id],
        created=created,
        container_config=container_config,
        history=[{"created": created, "created_by": "", "comment": comment}],
        platform=platform,
    )
    layer = Descriptor(mt.oci_layer_type(stored_compression), blob_digest, writer.size)
    result = store_image(content, images, config, [layer], size=stats.content_size, tags=tags)
    progress(ProgressEvent("import", "Done"))
    return result

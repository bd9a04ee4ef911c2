"""Garbage collection: remove blobs and snapshots that no image or container uses.

Mark and sweep. The roots are every image (its manifest, config and layer blobs, and the
snapshots of its layer chain) and every container (its snapshot and that snapshot's
parents). The caller holds the store's exclusive lock, so no import or load is halfway
through writing content that is not yet referenced.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from cove.content.store import ContentStore
from cove.errors import CoveError
from cove.images.store import ImageStore
from cove.oci import mediatypes as mt
from cove.oci.digest import chain_ids
from cove.oci.image import Index, Manifest, sniff_media_type
from cove.snapshots.snapshotter import SnapshotInfo, Snapshotter


@dataclass(frozen=True)
class GcResult:
    blobs_removed: int
    snapshots_removed: int
    bytes_freed: int


def _mark_blob(content: ContentStore, digest: str, marked: set[str]) -> None:
    """Mark a manifest or index blob and everything it points at."""
    if digest in marked:
        return
    marked.add(digest)
    try:
        data = content.read(digest)
        kind = sniff_media_type(data)
        if kind in mt.INDEX_TYPES:
            for desc in Index.parse(data).manifests:
                if content.exists(desc.digest):
                    _mark_blob(content, desc.digest, marked)
            return
        manifest = Manifest.parse(data)
    except CoveError:
        return  # unreadable: keep what is marked, never guess more
    marked.add(manifest.config.digest)
    marked.update(layer.digest for layer in manifest.layers)


def collect(
    content: ContentStore,
    images: ImageStore,
    snapshotter: Snapshotter,
    keep: tuple[set[str], set[str]] = (set(), set()),
) -> GcResult:
    """Remove blobs and snapshots no image uses; ``keep`` adds (blobs, snapshot keys) that other
    owners still hold: the containers' writable snapshots, the build cache's layers."""
    marked: set[str] = set(keep[0])
    chains: set[str] = set(keep[1])
    for record in images.records():
        _mark_blob(content, record.manifest_digest, marked)
        marked.add(record.id)
        with contextlib.suppress(CoveError):  # an unreadable config keeps no layers
            chains.update(chain_ids(images.config(record).diff_ids))
    keep_ids: set[int] = set()
    by_key = {s.key: s for s in snapshotter.all()}
    by_id = {s.id: s for s in by_key.values()}
    roots = [by_key[k] for k in chains if k in by_key]
    for snap in roots:
        node: SnapshotInfo | None = snap
        while node is not None and node.id not in keep_ids:
            keep_ids.add(node.id)
            node = by_id.get(node.parent_id) if node.parent_id is not None else None

    freed = 0
    blobs_removed = 0
    dead_blobs = [d for d in content.digests() if d not in marked]
    for digest in dead_blobs:
        freed += content.disk_usage(digest)
        content.delete(digest)
        blobs_removed += 1
    images.forget_layers(dead_blobs)

    # Children before parents: deepest first.
    def depth(snapshot_id: int) -> int:
        d = 0
        parent = by_id[snapshot_id].parent_id
        while parent is not None and parent in by_id:
            d += 1
            parent = by_id[parent].parent_id
        return d

    dead = sorted((s for s in by_id.values() if s.id not in keep_ids), key=lambda s: -depth(s.id))
    for snap in dead:
        freed += snapshotter.usage(snap.key)[0]
    snapshotter.remove_all([snap.id for snap in dead])  # one durable deletion for them all
    return GcResult(blobs_removed, len(dead), freed)

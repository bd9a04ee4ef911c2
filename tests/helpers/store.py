"""Checking that a cove store is whole: every image's blobs verify, every layer is unpacked."""

from __future__ import annotations

from cove.engine.bootstrap import Engine
from cove.oci.digest import chain_ids


def check_store(engine: Engine) -> None:
    store = engine.store
    for record in store.images.records():
        manifest = store.images.manifest(record)  # reads and verifies the blob
        config = store.images.config(record)
        for layer in manifest.layers:
            assert store.content.exists(layer.digest), f"{record.id}: layer blob {layer.digest} missing"
            assert store.content.size(layer.digest) == layer.size
        for key in chain_ids(config.diff_ids):
            snap = store.snapshotter.get(key)
            assert snap is not None and snap.kind == "committed", f"{record.id}: layer {key} not unpacked"
            assert store.snapshotter.fs(snap.id).is_dir()
    rows = store.db.query("SELECT id, key FROM snapshots WHERE kind = 'preparing'")
    assert not rows, f"half-made snapshots remain: {[dict(r) for r in rows]}"
    known = {str(s.id) for s in store.snapshotter.all()}
    on_disk = {p.name for p in store.snapshotter.root.iterdir()}
    assert on_disk == known, f"snapshot directories without records: {on_disk - known}"
    assert list(store.content.ingest_dir.iterdir()) == [], "unfinished blob writes remain"

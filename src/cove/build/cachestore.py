"""The step cache's records: what each build step produced, under its cache key.

A record holds the step's history entry (so a fully cached rebuild makes the very same
image, timestamps included) and, for a step that made a layer, the layer's descriptor,
diffID and the chainID of the snapshot that holds it. ``parent``, ``step`` and ``inputs``
are kept only to explain a miss: the same step after the same parent with other inputs
means the files or build args changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cove.db.database import Database
from cove.oci.digest import Digest
from cove.oci.image import Descriptor


@dataclass(frozen=True)
class CachedStep:
    key: str
    parent: str
    step: str  # the instruction as the cache sees it, without its inputs
    inputs: str  # the source digest or build args that went into the key
    history: dict[str, Any]
    layer: Descriptor | None
    diff_id: Digest | None
    chain_id: str | None
    size: int
    created: float
    last_used: float


def _row(r: Any) -> CachedStep:
    layer = Descriptor.from_json(json.loads(r["layer"])) if r["layer"] else None
    return CachedStep(
        key=r["key"],
        parent=r["parent"],
        step=r["step"],
        inputs=r["inputs"],
        history=json.loads(r["history"]),
        layer=layer,
        diff_id=Digest(r["diff_id"]) if r["diff_id"] else None,
        chain_id=r["chain_id"],
        size=r["size"],
        created=r["created"],
        last_used=r["last_used"],
    )


class BuildCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> CachedStep | None:
        row = self.db.query_one("SELECT * FROM build_cache WHERE key = ?", (key,))
        return None if row is None else _row(row)

    def touch(self, keys: Sequence[str]) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            tx.executemany("UPDATE build_cache SET last_used = ? WHERE key = ?", [(now, k) for k in keys])

    def siblings(self, parent: str, step: str) -> list[CachedStep]:
        """Records of the same step after the same parent (with other inputs)."""
        rows = self.db.query("SELECT * FROM build_cache WHERE parent = ? AND step = ?", (parent, step))
        return [_row(r) for r in rows]

    def put(self, record: CachedStep) -> None:
        layer = json.dumps(record.layer.to_json()) if record.layer else None
        self.db.execute(
            "INSERT INTO build_cache(key, parent, step, inputs, history, layer, diff_id, chain_id, size, "
            "created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "history = excluded.history, layer = excluded.layer, diff_id = excluded.diff_id, "
            "chain_id = excluded.chain_id, size = excluded.size, last_used = excluded.last_used",
            (
                record.key,
                record.parent,
                record.step,
                record.inputs,
                json.dumps(record.history, sort_keys=True),
                layer,
                record.diff_id,
                record.chain_id,
                record.size,
                record.created,
                record.last_used,
            ),
        )

    def count(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM build_cache")
        return int(row["n"]) if row is not None else 0

    def all(self) -> list[CachedStep]:
        return [_row(r) for r in self.db.query("SELECT * FROM build_cache ORDER BY last_used")]

    def roots(self) -> tuple[set[str], set[str]]:
        """The layer blobs and snapshot chainIDs the records keep from garbage collection."""
        blobs: set[str] = set()
        chains: set[str] = set()
        for row in self.db.query("SELECT layer, chain_id FROM build_cache WHERE layer IS NOT NULL"):
            blobs.add(json.loads(row["layer"])["digest"])
            if row["chain_id"]:
                chains.add(row["chain_id"])
        return blobs, chains

    def delete(self, keys: Sequence[str]) -> None:
        with self.db.transaction() as tx:
            tx.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in keys])

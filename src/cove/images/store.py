"""Image records and their names (tags, repo digests) in SQLite; manifests and configs as blobs."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cove.content.store import ContentStore
from cove.db.database import Database
from cove.errors import ImageNotFound, InvalidArgument, InvalidReference
from cove.oci.digest import Digest, is_digest
from cove.oci.image import ImageConfig, Manifest
from cove.oci.reference import Reference, parse_reference

_HEX_PREFIX = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})$")


@dataclass(frozen=True)
class ImageRecord:
    id: Digest
    manifest_digest: Digest
    manifest_media_type: str
    size: int
    created: str | None
    added: float
    tags: tuple[str, ...]  # normalised references
    repo_digests: tuple[str, ...]


class ImageStore:
    def __init__(self, db: Database, content: ContentStore) -> None:
        self.db = db
        self.content = content

    # -- reading ---------------------------------------------------------------------

    def _records(self, where: str = "", params: tuple[object, ...] = ()) -> list[ImageRecord]:
        rows = self.db.query(f"SELECT * FROM images {where} ORDER BY created DESC, added DESC", params)
        if not rows:
            return []
        tags: dict[str, list[str]] = {}
        for r in self.db.query("SELECT name, image_id FROM tags ORDER BY tagged"):
            tags.setdefault(r["image_id"], []).append(r["name"])
        digests: dict[str, list[str]] = {}
        for r in self.db.query("SELECT name, image_id FROM repo_digests ORDER BY name"):
            digests.setdefault(r["image_id"], []).append(r["name"])
        return [
            ImageRecord(
                id=Digest(r["id"]),
                manifest_digest=Digest(r["manifest_digest"]),
                manifest_media_type=r["manifest_media_type"],
                size=r["size"],
                created=r["created"],
                added=r["added"],
                tags=tuple(tags.get(r["id"], ())),
                repo_digests=tuple(digests.get(r["id"], ())),
            )
            for r in rows
        ]

    def records(self) -> list[ImageRecord]:
        return self._records()

    def get(self, image_id: str) -> ImageRecord:
        found = self._records("WHERE id = ?", (image_id,))
        if not found:
            raise ImageNotFound(image_id)
        return found[0]

    def tag_time(self, ref: Reference) -> float | None:
        """When the tag was last pointed at its image (pulled, tagged or built), None if there is
        no such tag."""
        row = self.db.query_one("SELECT tagged FROM tags WHERE name = ?", (str(ref),))
        return None if row is None else float(row["tagged"])

    def lookup_tag(self, ref: Reference) -> Digest | None:
        row = self.db.query_one("SELECT image_id FROM tags WHERE name = ?", (str(ref),))
        return None if row is None else Digest(row["image_id"])

    def resolve(self, text: str) -> ImageRecord:
        """Find an image by name[:tag], name@digest, full ID or unique ID prefix."""
        return self.lookup(text)[0]

    def lookup(self, text: str) -> tuple[ImageRecord, Reference | None]:
        """Like :meth:`resolve`, and also the reference it matched (None for an ID)."""
        image_id, ref = self._resolve_id(text)
        if image_id is None:
            try:  # name it as Docker does: busybox -> busybox:latest
                shown = parse_reference(text).familiar()
            except InvalidReference:
                shown = text
            raise ImageNotFound(shown)
        return self.get(image_id), ref

    def _resolve_id(self, text: str) -> tuple[str | None, Reference | None]:
        if is_digest(text):
            row = self.db.query_one("SELECT id FROM images WHERE id = ?", (text,))
            return (None if row is None else str(row["id"])), None
        try:
            ref: Reference | None = parse_reference(text)
        except InvalidReference:
            ref = None
        if ref is not None:
            if ref.digest is not None:
                row = self.db.query_one(
                    "SELECT image_id FROM repo_digests WHERE name = ?", (f"{ref.name}@{ref.digest}",)
                ) or self.db.query_one(
                    "SELECT id AS image_id FROM images WHERE manifest_digest = ?", (ref.digest,)
                )
                return (None if row is None else str(row["image_id"])), ref
            found = self.lookup_tag(ref)
            if found is not None:
                return found, ref
        match = _HEX_PREFIX.match(text)
        if match:
            rows = self.db.query(
                "SELECT id FROM images WHERE id >= ? AND id < ?",
                ("sha256:" + match.group(1), "sha256:" + match.group(1) + "g"),
            )
            if len(rows) > 1:
                raise InvalidArgument(f"image ID prefix {text!r} is ambiguous", hint="give more characters")
            if rows:
                return str(rows[0]["id"]), None
        if ref is None:
            parse_reference(text)  # raise the reference's own error
        return None, None

    def manifest(self, record: ImageRecord) -> Manifest:
        return Manifest.parse(self.content.read(record.manifest_digest))

    def config(self, record: ImageRecord) -> ImageConfig:
        return ImageConfig.parse(self.content.read(record.id))

    # -- writing ---------------------------------------------------------------------

    def add(
        self,
        *,
        config_digest: Digest,
        manifest_digest: Digest,
        media_type: str,
        size: int,
        created: str | None,
        tags: Sequence[Reference] = (),
        repo_digests: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        """Record an image and point ``tags`` at it.

        Returns (tag, previous image ID) for each tag that moved away from another image.
        """
        moved: list[tuple[str, str]] = []
        now = time.time()
        with self.db.transaction(durable=True) as tx:
            tx.execute(
                "INSERT INTO images(id, manifest_digest, manifest_media_type, size, created, added) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "manifest_digest = excluded.manifest_digest, "
                "manifest_media_type = excluded.manifest_media_type",
                (config_digest, manifest_digest, media_type, size, created, now),
            )
            for ref in tags:
                old = self._set_tag(tx, ref, config_digest, now)
                if old is not None:
                    moved.append((str(ref), old))
            for name in repo_digests:
                tx.execute(
                    "INSERT INTO repo_digests(name, image_id) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                    (name, config_digest),
                )
        return moved

    @staticmethod
    def _set_tag(tx: sqlite3.Connection, ref: Reference, image_id: str, now: float) -> str | None:
        if ref.tag is None or ref.digest is not None:
            raise InvalidArgument(f"{ref.familiar()} is not a name:tag reference")
        row = tx.execute("SELECT image_id FROM tags WHERE name = ?", (str(ref),)).fetchone()
        tx.execute(
            "INSERT INTO tags(name, image_id, tagged) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged = excluded.tagged",
            (str(ref), image_id, now),
        )
        if row is not None and row["image_id"] != image_id:
            return str(row["image_id"])
        return None

    def tag(self, image_id: str, ref: Reference) -> str | None:
        with self.db.transaction(durable=True) as tx:
            if tx.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise ImageNotFound(image_id)
            return self._set_tag(tx, ref, image_id, time.time())

    def untag(self, name: str) -> None:
        with self.db.transaction(durable=True) as tx:
            tx.execute("DELETE FROM tags WHERE name = ?", (name,))
            tx.execute("DELETE FROM repo_digests WHERE name = ?", (name,))

    def delete(self, image_id: str) -> None:
        with self.db.transaction(durable=True) as tx:
            tx.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # -- layers ----------------------------------------------------------------------

    def record_layer(self, digest: Digest, diff_id: Digest, uncompressed_size: int) -> None:
        self.db.execute(
            "INSERT INTO layers(digest, diff_id, uncompressed_size) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (digest, diff_id, uncompressed_size),
        )

    def layer_info(self, digest: Digest) -> tuple[Digest, int] | None:
        row = self.db.query_one("SELECT diff_id, uncompressed_size FROM layers WHERE digest = ?", (digest,))
        return None if row is None else (Digest(row["diff_id"]), int(row["uncompressed_size"]))

    def forget_layers(self, digests: Sequence[str]) -> None:
        with self.db.transaction() as tx:
            tx.executemany("DELETE FROM layers WHERE digest = ?", [(d,) for d in digests])
            tx.executemany("DELETE FROM blob_sources WHERE digest = ?", [(d,) for d in digests])

    # -- where blobs are known to exist in registries ------------------------------------

    def record_sources(self, registry: str, repository: str, digests: Sequence[str]) -> None:
        """Remember that ``registry``/``repository`` holds these blobs (pulled or pushed)."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.executemany(
                "INSERT INTO blob_sources(digest, registry, repository, seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET seen = excluded.seen",
                [(d, registry, repository, now) for d in digests],
            )

    def sources(self, digest: str, registry: str) -> list[str]:
        """Repositories of ``registry`` that held the blob when last seen, newest first."""
        rows = self.db.query(
            "SELECT repository FROM blob_sources WHERE digest = ? AND registry = ? ORDER BY seen DESC",
            (digest, registry),
        )
        return [r["repository"] for r in rows]

    def forget_source(self, digest: str, registry: str, repository: str) -> None:
        self.db.execute(
            "DELETE FROM blob_sources WHERE digest = ? AND registry = ? AND repository = ?",
            (digest, registry, repository),
        )

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM images")[0]["n"])

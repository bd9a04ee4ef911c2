"""Writing images to archives: docker-archive, oci-archive and oci-dir.

The docker-archive cove writes is also a valid OCI image layout (as Docker 25 and later
write it): ``manifest.json`` for ``docker load`` and skopeo's docker-archive transport,
``index.json`` and ``oci-layout`` for OCI tools. Docker's format needs uncompressed layer
tars, so compressed layers are inflated on the way out. The OCI formats keep every blob
exactly as stored, so manifest digests survive the round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cove.archive.compression import DecompressingReader
from cove.archive.tarwrite import TarWriter
from cove.content.store import ContentStore
from cove.errors import InvalidArgument
from cove.images import layout
from cove.images.store import ImageRecord, ImageStore
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, Manifest, canonical_json
from cove.oci.reference import Reference
from cove.progress import Progress, ProgressEvent, no_progress

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
OCI_DIR = "oci-dir"
FORMATS = (DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR)


@dataclass(frozen=True)
class SaveItem:
    record: ImageRecord
    tags: list[Reference]  # the names to write for it (none when saved by ID)


class _Sink:
    """Where an archive goes: a tar stream, or a directory (oci-dir)."""

    def __init__(self, tar: TarWriter | None, directory: Path | None) -> None:
        self.tar = tar
        self.dir = directory
        self.written: set[str] = set()

    def bytes(self, name: str, data: bytes) -> None:
        if name in self.written:
            return
        self.written.add(name)
        if self.tar is not None:
            self.tar.add_bytes(name, data)
        else:
            assert self.dir is not None
            path = self.dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def stream(self, name: str, size: int, source: BinaryIO) -> None:
        if name in self.written:
            return
        self.written.add(name)
        if self.tar is not None:
            self.tar.add_stream(name, size, source)
        else:
            assert self.dir is not None
            path = self.dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                remaining = size
                while remaining:
                    chunk = source.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise InvalidArgument(f"blob for {name} ended early")
                    out.write(chunk)
                    remaining -= len(chunk)


class Saver:
    def __init__(self, content: ContentStore, images: ImageStore, progress: Progress = no_progress) -> None:
        self.content = content
        self.images = images
        self.progress = progress

    def _plain_size(self, layer: Descriptor, diff_id: Digest) -> int:
        """Size of the uncompressed tar of ``layer``."""
        if layer.digest == diff_id:
            return layer.size
        info = self.images.layer_info(layer.digest)
        if info is not None:
            return info[1]
        size = 0  # not recorded (never unpacked here): count by inflating once
        with self.reader(layer.digest, inflate=True) as reader:
            while chunk := reader.read(1 << 20):
                size += len(chunk)
        return size

    @contextmanager
    def reader(self, digest: Digest, *, inflate: bool = False) -> Iterator[BinaryIO]:
        with self.content.open(digest) as f:
            yield DecompressingReader(f) if inflate else f  # type: ignore[misc]

    def write_docker(self, items: list[SaveItem], sink: _Sink) -> None:
        manifest_json: list[dict[str, Any]] = []
        index_entries: list[dict[str, Any]] = []
        for item in items:
            manifest = self.images.manifest(item.record)
            config = self.images.config(item.record)
            sink.bytes(layout.blob_path(item.record.id), self.content.read(item.record.id))
            layer_paths = []
            oci_layers = []
            for layer, diff_id in zip(manifest.layers, config.diff_ids, strict=True):
                size = self._plain_size(layer, diff_id)
                path = layout.blob_path(diff_id)
                if path not in sink.written:
                    self.progress(ProgressEvent(diff_id.short, "Saving layer", 0, size))
                    with self.reader(layer.digest, inflate=layer.digest != diff_id) as source:
                        sink.stream(path, size, source)
                    self.progress(ProgressEvent(diff_id.short, "Saved", size, size))
                layer_paths.append(path)
                oci_layers.append(Descriptor(mt.OCI_LAYER, diff_id, size))
            config_size = self.content.size(item.record.id)
            plain_manifest = Manifest(
                mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, item.record.id, config_size), tuple(oci_layers)
            )
            manifest_bytes = plain_manifest.to_bytes()
            manifest_digest = Digest.of(manifest_bytes)
            sink.bytes(layout.blob_path(manifest_digest), manifest_bytes)
            manifest_json.append(
                {
                    "Config": layout.blob_path(item.record.id),
                    "RepoTags": [t.familiar() for t in item.tags] or None,
                    "Layers": layer_paths,
                }
            )
            index_entries.extend(
                self._index_entries(manifest_digest, mt.OCI_MANIFEST, len(manifest_bytes), item)
            )
        sink.bytes(layout.OCI_LAYOUT_FILE, layout.OCI_LAYOUT_CONTENT)
        sink.bytes(layout.INDEX_FILE, self._index(index_entries))
        sink.bytes(layout.DOCKER_MANIFEST_FILE, json.dumps(manifest_json, separators=(",", ":")).encode())

    def write_oci(self, items: list[SaveItem], sink: _Sink) -> None:
        index_entries: list[dict[str, Any]] = []
        for item in items:
            record = item.record
            manifest = self.images.manifest(record)
            for desc in (manifest.config, *manifest.layers):
                path = layout.blob_path(desc.digest)
                if path not in sink.written:
                    self.progress(ProgressEvent(desc.digest.short, "Saving blob", 0, desc.size))
                    with self.reader(desc.digest) as source:
                        sink.stream(path, desc.size, source)
            manifest_bytes = self.content.read(record.manifest_digest)
            sink.bytes(layout.blob_path(record.manifest_digest), manifest_bytes)
            index_entries.extend(
                self._index_entries(
                    record.manifest_digest, record.manifest_media_type, len(manifest_bytes), item
                )
            )
        sink.bytes(layout.OCI_LAYOUT_FILE, layout.OCI_LAYOUT_CONTENT)
        sink.bytes(layout.INDEX_FILE, self._index(index_entries))

    @staticmethod
    def _index_entries(digest: Digest, media_type: str, size: int, item: SaveItem) -> list[dict[str, Any]]:
        base = Descriptor(media_type, digest, size).to_json()
        if not item.tags:
            return [base]
        return [
            {
                **base,
                "annotations": {
                    layout.CONTAINERD_NAME_ANNOTATION: str(tag),
                    layout.REF_NAME_ANNOTATION: tag.tag or "latest",
                },
            }
            for tag in item.tags
        ]

    @staticmethod
    def _index(entries: list[dict[str, Any]]) -> bytes:
        return canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries})

    def save(self, items: list[SaveItem], fmt: str, out: BinaryIO | None, directory: Path | None) -> None:
        if fmt not in FORMATS:
            raise InvalidArgument(f"unknown archive format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
        if fmt == OCI_DIR:
            if directory is None:
                raise InvalidArgument("--format oci-dir needs an output directory (-o DIR)")
            self.write_oci(items, _Sink(None, directory))
            return
        assert out is not None
        tar = TarWriter(out)
        sink = _Sink(tar, None)
        if fmt == DOCKER_ARCHIVE:
            self.write_docker(items, sink)
        else:
            self.write_oci(items, sink)
        tar.close()


def save_items(images: ImageStore, names: list[str]) -> list[SaveItem]:
    """Resolve names as ``docker save`` does: a name saves that tag, an ID saves no tags."""
    items: dict[str, SaveItem] = {}
    for name in names:
        record, ref = images.lookup(name)
        tags: list[Reference] = [ref] if ref is not None and ref.digest is None else []
        existing = items.get(record.id)
        if existing is not None:
            existing.tags.extend(t for t in tags if t not in existing.tags)
        else:
            items[record.id] = SaveItem(record, tags)
    return list(items.values())

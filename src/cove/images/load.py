"""Reading image archives: docker-archive (old and new layouts), oci-archive and oci-dir.

Archives are read in one streaming pass, so stdin and compressed archives work like
files: every large member goes straight into the content store (hashed on the way),
small ones are kept in memory until ``manifest.json`` or ``index.json`` says what they
are. A blob whose bytes do not match the digest its path claims is rejected at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cove.archive import compression
from cove.archive import tarstream as ts
from cove.archive.stream import ChunkReader, LayerStream
from cove.content.store import ContentStore
from cove.errors import ArchiveError, CoveError, DigestMismatch, InvalidReference
from cove.host.trees import walk
from cove.images import layout
from cove.images.store import ImageStore
from cove.images.unpack import Unpacker
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, ImageConfig, Index, Manifest, pick_platform, sniff_media_type
from cove.oci.platform import Platform, host_platform
from cove.oci.reference import Reference, parse_reference
from cove.progress import Progress, ProgressEvent, no_progress

SMALL_MEMBER = 4 << 20  # members up to this size are kept in memory until they are understood


@dataclass
class _Member:
    digest: Digest
    size: int
    data: bytes | None  # kept for small members


@dataclass
class LoadedImage:
    id: Digest
    tags: list[Reference]
    moved_tags: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Found:
    """An image found in an archive, before it is unpacked and recorded."""

    manifest_digest: Digest
    manifest_media_type: str
    manifest: Manifest
    config: ImageConfig
    tags: list[Reference]


class ArchiveReader:
    """The members of an archive: by normalised name, following links."""

    def __init__(self, content: ContentStore, progress: Progress) -> None:
        self.content = content
        self.progress = progress
        self.members: dict[str, _Member] = {}
        self.links: dict[str, str] = {}

    def read_stream(self, source: BinaryIO) -> None:
        reader = ts.TarReader(ChunkReader(LayerStream(source).chunks()))
        try:
            for entry in reader:
                name = layout.normalize_member(entry.name)
                if entry.type == ts.REGULAR:
                    self.members[name] = self._ingest(name, entry.size, reader)
                elif entry.type == ts.SYMLINK:
                    target = entry.linkname
                    base = posixpath.dirname(name)
                    self.links[name] = layout.normalize_member(
                        posixpath.normpath(posixpath.join(base, target))
                        if not target.startswith("/")
                        else target
                    )
                elif entry.type == ts.HARDLINK:
                    self.links[name] = layout.normalize_member(entry.linkname)
        except CoveError as exc:
            if reader.entries_read == 0:
                raise ArchiveError(f"not an image archive: {exc.message}") from None
            raise ArchiveError(f"damaged image archive: {exc.message}") from None

    def _ingest(self, name: str, size: int, reader: ts.TarReader) -> _Member:
        claimed = layout.digest_of_blob_path(name)
        if size <= SMALL_MEMBER:
            data = b"".join(bytes(v) for v in reader.data())
            digest = Digest.of(data)
            if claimed is not None and claimed != digest:
                raise DigestMismatch(f"archive blob {name}", claimed, digest)
            return _Member(digest, size, data)
        if claimed is not None and self.content.exists(claimed):
            # Already stored: still verify what the archive holds, but do not write it again.
            h = hashlib.sha256()
            for view in reader.data():
                h.update(view)
            digest = Digest.from_hex(h.hexdigest())
            if digest != claimed:
                raise DigestMismatch(f"archive blob {name}", claimed, digest)
            return _Member(digest, size, None)
        short = (claimed or name)[-12:] if claimed is None else claimed.short
        with self.content.writer(claimed) as writer:
            done = 0
            for view in reader.data():
                writer.write(view)
                done += len(view)
                self.progress(ProgressEvent(short, "Loading layer", done, size))
            digest = writer.commit(what=f"archive blob {name}")
        return _Member(digest, size, None)

    def read_dir(self, root: Path) -> None:
        # Regular files only, opened where the walk found them: never through a symlink,
        # and never a FIFO put in place meanwhile (O_NONBLOCK: opening one does not wait).
        for entry in walk(root):
            if not stat.S_ISREG(entry.stat.st_mode):
                continue
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(entry.name, flags, dir_fd=entry.dir_fd)
            except OSError:
                continue  # gone or replaced since it was listed
            with open(fd, "rb") as f:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    self.members[entry.rel] = self._ingest_file(entry.rel, st.st_size, f)

    def _ingest_file(self, name: str, size: int, f: BinaryIO) -> _Member:
        claimed = layout.digest_of_blob_path(name)
        if size <= SMALL_MEMBER:
            data = f.read()
            digest = Digest.of(data)
            if claimed is not None and claimed != digest:
                raise DigestMismatch(f"archive blob {name}", claimed, digest)
            return _Member(digest, size, data)
        with self.content.writer(claimed) as writer:
            done = 0
            while chunk := f.read(1 << 20):
                writer.write(chunk)
                done += len(chunk)
                self.progress(
                    ProgressEvent(claimed.short if claimed else name[-12:], "Loading layer", done, size)
                )
            digest = writer.commit(what=f"archive blob {name}")
        return _Member(digest, size, None)

    def resolve(self, name: str) -> _Member:
        name = layout.normalize_member(name)
        for _ in range(32):
            if name in self.members:
                return self.members[name]
            if name not in self.links:
                break
            name = self.links[name]
        raise ArchiveError(f"image archive is missing {name!r}")

    def json(self, name: str) -> Any:
        member = self.resolve(name)
        try:
            return json.loads(self.bytes(member))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArchiveError(f"{name} in the image archive is not valid JSON: {exc}") from None

    def bytes(self, member: _Member) -> bytes:
        return member.data if member.data is not None else self.content.read(member.digest)

    def store(self, member: _Member) -> Digest:
        """Make sure a member is in the content store; return its digest."""
        if member.data is not None:
            return self.content.put(member.data)
        return member.digest

    def blob(self, digest: Digest) -> _Member:
        return self.resolve(layout.blob_path(digest))


def _parse_tag(text: str) -> Reference | None:
    try:
        ref = parse_reference(text)
    except InvalidReference:
        return None
    return ref if ref.digest is None else None


def _repo_tags(entry: dict[str, Any], i: int) -> list[Reference]:
    """An entry's RepoTags: each must be a name with a tag, as Docker's load requires (it fails
    on the first one that is not, where an image dropped silently would load untagged)."""
    texts = entry.get("RepoTags") or []
    if not isinstance(texts, list):
        raise ArchiveError(f"manifest.json entry {i}: RepoTags is not a list")
    tags = []
    for text in texts:
        if not isinstance(text, str):
            raise ArchiveError(f"manifest.json entry {i}: invalid RepoTag {text!r}: not a string")
        try:
            ref = parse_reference(text, default_tag=False)
        except InvalidReference as exc:
            raise ArchiveError(f"manifest.json entry {i}: invalid RepoTag {text!r}: {exc.message}") from None
        if ref.digest is not None or ref.tag is None:
            raise ArchiveError(f"manifest.json entry {i}: invalid RepoTag {text!r}: it must be NAME:TAG")
        tags.append(ref)
    return tags


def _docker_images(archive: ArchiveReader) -> list[_Found]:
    entries = archive.json(layout.DOCKER_MANIFEST_FILE)
    if not isinstance(entries, list):
        raise ArchiveError("manifest.json in the image archive is not a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(f"manifest.json entry {i} has no Config")
    # Every entry's names are checked before any of its content is stored.
    all_tags = [_repo_tags(entry, i) for i, entry in enumerate(entries)]
    found = []
    for entry, tags in zip(entries, all_tags, strict=True):
        config_member = archive.resolve(entry["Config"])
        config_bytes = archive.bytes(config_member)
        try:
            config = ImageConfig.parse(config_bytes)
        except CoveError as exc:
            raise ArchiveError(f"image config {entry['Config']}: {exc.message}") from None
        config_digest = archive.store(config_member)
        layers = []
        for path in entry.get("Layers") or []:
            member = archive.resolve(path)
            digest = archive.store(member)
            with archive.content.open(digest) as f:
                kind = compression.detect(f.read(8))
            if kind not in ("", compression.GZIP, compression.ZSTD):
                raise ArchiveError(f"layer {path} is {kind}-compressed, which OCI images cannot hold")
            layers.append(Descriptor(mt.oci_layer_type(kind), digest, member.size))
        manifest = Manifest(
            mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)), tuple(layers)
        )
        manifest_bytes = manifest.to_bytes()
        manifest_digest = archive.content.put(manifest_bytes)
        found.append(_Found(manifest_digest, mt.OCI_MANIFEST, manifest, config, tags))
    return found


def _names_from_annotations(annotations: dict[str, str]) -> list[Reference]:
    full = annotations.get(layout.CONTAINERD_NAME_ANNOTATION)
    if full and (ref := _parse_tag(full)):
        return [ref]
    name = annotations.get(layout.REF_NAME_ANNOTATION, "")
    # A bare tag ("latest") names no repository: such an image loads untagged.
    if ("/" in name or ":" in name) and (ref := _parse_tag(name)):
        return [ref]
    return []


def _oci_images(archive: ArchiveReader, platform: Platform) -> list[_Found]:
    index_member = archive.resolve(layout.INDEX_FILE)
    try:
        index = Index.parse(archive.bytes(index_member), "index.json")
    except CoveError as exc:
        raise ArchiveError(f"index.json: {exc.message}") from None
    by_manifest: dict[str, _Found] = {}
    for desc in index.manifests:
        tags = _names_from_annotations(dict(desc.annotations))
        manifest_desc = desc
        if desc.media_type in mt.INDEX_TYPES:
            nested_member = _described(archive, desc, "image index")
            nested = Index.parse(archive.bytes(nested_member))
            archive.store(nested_member)
            picked = pick_platform(nested, platform.os, platform.architecture, platform.variant)
            if picked is None:
                raise ArchiveError(f"the image index {desc.digest.short} has no manifest for {platform}")
            manifest_desc = picked
        member = _described(archive, manifest_desc, "image manifest")
        data = archive.bytes(member)
        if sniff_media_type(data) not in mt.MANIFEST_TYPES:
            raise ArchiveError(f"{manifest_desc.digest} is not an image manifest")
        manifest = Manifest.parse(data)
        config_member = _described(archive, manifest.config, "image config")
        config = ImageConfig.parse(archive.bytes(config_member))
        archive.store(config_member)
        for layer in manifest.layers:
            archive.store(_described(archive, layer, "layer"))
        digest = archive.store(member)
        existing = by_manifest.get(digest)
        if existing is not None:
            existing.tags.extend(t for t in tags if t not in existing.tags)
        else:
            by_manifest[digest] = _Found(digest, manifest.media_type, manifest, config, tags)
    return list(by_manifest.values())


def _described(archive: ArchiveReader, desc: Descriptor, what: str) -> _Member:
    """The blob a descriptor points at, which must be of the size the descriptor gives."""
    member = archive.blob(desc.digest)
    desc.check_size(member.size, f"{what} in the image archive")
    return member


def load_archive(
    source: BinaryIO | Path,
    *,
    content: ContentStore,
    images: ImageStore,
    unpacker: Unpacker,
    platform: Platform | None = None,
    progress: Progress = no_progress,
) -> list[LoadedImage]:
    archive = ArchiveReader(content, progress)
    if isinstance(source, Path):
        archive.read_dir(source)
    else:
        archive.read_stream(source)
    if layout.DOCKER_MANIFEST_FILE in archive.members or layout.DOCKER_MANIFEST_FILE in archive.links:
        found = _docker_images(archive)
    elif layout.INDEX_FILE in archive.members:
        found = _oci_images(archive, platform or host_platform())
    else:
        raise ArchiveError(
            "not an image archive: it has neither manifest.json (docker-archive) nor index.json (OCI layout)",
            hint="`cove import` makes an image from a root filesystem tarball",
        )
    loaded = []
    for item in found:
        size = unpacker.unpack(item.manifest, item.config, progress)
        moved = images.add(
            config_digest=item.manifest.config.digest,
            manifest_digest=item.manifest_digest,
            media_type=item.manifest_media_type,
            size=size,
            created=item.config.created,
            tags=item.tags,
        )
        loaded.append(LoadedImage(item.manifest.config.digest, item.tags, moved))
    return loaded

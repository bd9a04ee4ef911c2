"""Pulling an image from a registry into the store, unpacking layers as they stream in.

Each missing layer is one GET whose bytes go three ways at once: into a partial blob file
(kept across interruptions), through the hash that verifies the blob, and through
inflate and the tar reader into a snapshot. Nothing becomes visible before its digest
checked out: the blob is renamed into the content store and the snapshot committed only
at the end of a verified stream.

A connection that drops is resumed with a Range request from the last byte written; a
killed pull leaves its partial files behind and the next pull of the same blob (from any
image) replays them and asks only for the rest. Blobs the store already holds are never
downloaded again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from cove.archive.stream import LayerStream
from cove.content.store import ContentStore, PartialBlob
from cove.errors import DigestMismatch, InvalidArgument, LayerError, NotFound, SizeMismatch
from cove.images.store import ImageStore
from cove.images.unpack import LayerInput, StoredLayer, Unpacker
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest, chain_ids
from cove.oci.image import Descriptor, ImageConfig, Index, Manifest, pick_platform, sniff_media_type
from cove.oci.platform import Platform
from cove.oci.reference import Reference
from cove.progress import Progress, ProgressEvent, no_progress
from cove.registry.client import Repository
from cove.registry.errors import RegistryError, RegistryUnavailable
from cove.registry.transport import Response

CONFIG_MAX = 8 << 20
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """How a broken download is retried: ``attempts`` in a row without progress, the
    pauses between them doubling from ``first_delay`` up to ``max_delay`` seconds."""

    attempts: int = 6
    first_delay: float = 0.25
    max_delay: float = 8.0

    def delays(self) -> list[float]:
        return [min(self.max_delay, self.first_delay * 2**i) for i in range(self.attempts - 1)]


class PullResult(NamedTuple):
    image_id: Digest
    digest: Digest  # what the reference resolved to: the index or the manifest
    reference: Reference
    updated: bool  # False: the name already pointed at this image and nothing was fetched


class ResumingReader:
    """A blob's bytes, read once: first what an earlier attempt kept, then the network,
    reconnecting with a Range request where a connection broke."""

    def __init__(self, repo: Repository, layer: Descriptor, partial: PartialBlob, retry: RetryPolicy) -> None:
        self.repo = repo
        self.layer = layer
        self.partial = partial
        self.retry = retry
        self._replay: BinaryIO | None = partial.replay() if partial.offset else None
        self._have = partial.offset  # bytes kept in the partial file
        self._response: Response | None = None
        self.resumed_from = partial.offset
        self.reconnects = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = 1 << 20
        if self._replay is not None:
            data = self._replay.read(n)
            if data:
                return data
            self._replay.close()
            self._replay = None
        if self._have >= self.layer.size:
            if self._more_than_the_size():
                self._drop()
                what = f"layer of {self.repo.name} ({self.layer.digest})"
                raise SizeMismatch(what, self.layer.size, f"more than {self.layer.size}")
            self._drop()
            return b""
        delays = self.retry.delays()
        while True:
            try:
                if self._response is None:
                    self._response = self._open()
                data = self._response.read(min(n, self.layer.size - self._have))
                if not data:
                    raise RegistryUnavailable(
                        f"blob {self.layer.digest.short} ended after {self._have} of {self.layer.size} bytes"
                    )
            except RegistryError as exc:
                self._drop()
                if not _retryable(exc) or not delays:
                    raise
                time.sleep(delays.pop(0))
                self.reconnects += 1
                continue
            self.partial.append(data)
            self._have += len(data)
            return data

    def _more_than_the_size(self) -> bool:
        """Whether the registry sends more than the manifest says the blob holds (a response
        without Content-Length); a connection that breaks here has given all that was asked."""
        if self._response is None:
            return False
        try:
            return bool(self._response.read(1))
        except RegistryError:
            return False

    def _open(self) -> Response:
        response, start = self.repo.open_blob(self.layer.digest, self._have)
        length = response.headers.get("content-length", "")
        if length.isdigit() and start + int(length) != self.layer.size:
            response.close(reuse=False)
            what = f"layer of {self.repo.name} ({self.layer.digest})"
            raise SizeMismatch(what, self.layer.size, start + int(length))
        skip = self._have - start  # the registry ignored the Range and sent it all
        while skip > 0:
            data = response.read(min(skip, 1 << 20))
            if not data:
                response.close(reuse=False)
                raise RegistryUnavailable(f"blob {self.layer.digest.short} ended early")
            skip -= len(data)
        return response

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close(reuse=False)
            self._response = None

    def close(self) -> None:
        self._drop()
        if self._replay is not None:
            self._replay.close()
            self._replay = None


def _retryable(exc: RegistryError) -> bool:
    # Broken connections and a registry that is restarting or overloaded; never "no such blob".
    return exc.status == 0 or exc.status >= 500 or exc.status == 429


class RemoteLayer:
    """A layer streamed from the registry (:class:`LayerInput` for the unpacker)."""

    status = "Downloading"
    sink: Callable[[bytes], None] | None = None

    def __init__(self, repo: Repository, layer: Descriptor, partial: PartialBlob, retry: RetryPolicy) -> None:
        self.partial = partial
        self.reader = ResumingReader(repo, layer, partial, retry)
        self.raw: BinaryIO = self.reader  # type: ignore[assignment]

    def finish(self, stream: LayerStream) -> None:
        self.reader.close()
        self.partial.commit(stream.digest)

    def close(self, failed: BaseException | None) -> None:
        try:
            self.reader.close()
        finally:
            # The partial file's lock is let go whatever happens: another pull waits for it.
            if failed is None:
                pass
            elif isinstance(failed, DigestMismatch | LayerError):
                self.partial.discard()  # the bytes are wrong: keep none of them
            else:
                self.partial.close()  # interrupted: keep them to resume


class Puller:
    def __init__(
        self,
        content: ContentStore,
        images: ImageStore,
        unpacker: Unpacker,
        *,
        platform: Platform,
        downloads: int = 3,
        retry: RetryPolicy | None = None,
        progress: Progress = no_progress,
    ) -> None:
        self.content = content
        self.images = images
        self.unpacker = unpacker
        self.platform = platform
        self.downloads = max(1, downloads)
        self.retry = retry or RetryPolicy()
        self.progress = progress

    # -- resolving -----------------------------------------------------------------------

    def resolve(self, repo: Repository, ref: Reference) -> tuple[Digest, Manifest, bytes, str]:
        """The manifest for this host's platform: (top digest, manifest, its bytes, its media type)."""
        data, media_type, top = repo.manifest(str(ref.digest) if ref.digest else ref.tag or "latest")
        media_type = _media_type(media_type, data)
        if media_type in mt.INDEX_TYPES:
            index = Index.parse(data)
            p = self.platform
            picked = pick_platform(index, p.os, p.architecture, p.variant)
            if picked is None:
                found = ", ".join(sorted({_platform_text(d.platform) for d in index.manifests if d.platform}))
                raise NotFound(
                    f"no matching manifest for {p} in the manifest list entries of {ref.familiar()}",
                    hint=f"it has: {found}" if found else None,
                )
            data, media_type, _ = repo.manifest(str(picked.digest))
            picked.check_size(len(data), f"manifest of {ref.familiar()} for {p}")
            media_type = _media_type(media_type, data)
        if media_type not in mt.MANIFEST_TYPES:
            raise InvalidArgument(
                f"{ref.familiar()} has a manifest of type {media_type or 'unknown'}, which cove cannot pull",
                hint="schema 1 manifests are obsolete: push the image again with a current tool"
                if media_type in SCHEMA1_TYPES
                else None,
            )
        return top, Manifest.parse(data), data, media_type

    def _config(self, repo: Repository, manifest: Manifest) -> bytes:
        """The image config, verified (stored only once the whole image is)."""
        desc = manifest.config
        if self.content.exists(desc.digest):
            data = self.content.read(desc.digest)
            desc.check_size(len(data), f"image config of {repo.name}")
            return data
        if desc.size > CONFIG_MAX:
            raise InvalidArgument(f"image config {desc.digest.short} is too large ({desc.size} bytes)")
        response, _ = repo.open_blob(desc.digest)
        data = response.body(CONFIG_MAX)
        actual = Digest.of(data)
        if actual != desc.digest:
            raise DigestMismatch(f"image config of {repo.name}", desc.digest, actual)
        desc.check_size(len(data), f"image config of {repo.name}")
        return data

    # -- pulling -------------------------------------------------------------------------

    def pull(self, repo: Repository, ref: Reference) -> PullResult:
        current = self._current(repo, ref)
        if current is not None:
            return current
        top, manifest, manifest_bytes, media_type = self.resolve(repo, ref)
        config_bytes = self._config(repo, manifest)
        config = ImageConfig.parse(config_bytes)
        for layer in manifest.layers:
            if self.content.exists(layer.digest):  # what is stored is right: the manifest must agree
                layer.check_size(self.content.size(layer.digest), f"layer of {repo.name}")
        image_id = manifest.config.digest
        updated = not self._up_to_date(ref, image_id, config)
        if updated:
            self._fetch_layers(repo, manifest, config)
        self.content.put(config_bytes, expected=image_id)
        manifest_digest = self.content.put(manifest_bytes)
        size = sum(
            info.size
            for key in chain_ids(config.diff_ids)
            if (info := self.unpacker.snapshotter.get(key)) is not None
        )
        self.images.add(
            config_digest=image_id,
            manifest_digest=manifest_digest,
            media_type=media_type,
            size=size,
            created=config.created,
            tags=[ref] if ref.digest is None else [],
            repo_digests=[f"{ref.name}@{top}"],
        )
        self.images.record_sources(ref.domain, ref.path, [str(layer.digest) for layer in manifest.layers])
        return PullResult(image_id, top, ref, updated)

    def _current(self, repo: Repository, ref: Reference) -> PullResult | None:
        """The local image when the tag still names what it was pulled as: one HEAD, which
        Docker Hub does not count against its pull limit, instead of a manifest GET."""
        if ref.digest is not None:
            return None
        image_id = self.images.lookup_tag(ref)
        if image_id is None:
            return None
        record = self.images.get(image_id)
        pulled = [d.split("@", 1)[1] for d in record.repo_digests if d.split("@", 1)[0] == ref.name]
        if not pulled:
            return None
        remote = repo.manifest_digest(ref.tag or "latest")
        if remote is None or remote not in pulled:
            return None
        config = self.images.config(record)
        p = self.platform
        if (config.raw.get("os"), config.raw.get("architecture")) != (p.os, p.architecture):
            return None  # the same index, but another platform of it is wanted
        if not all(self.unpacker.snapshotter.get(key) is not None for key in chain_ids(config.diff_ids)):
            return None
        return PullResult(image_id, remote, ref, False)

    def _up_to_date(self, ref: Reference, image_id: Digest, config: ImageConfig) -> bool:
        try:
            self.images.get(image_id)
        except NotFound:
            return False
        if ref.digest is None and self.images.lookup_tag(ref) != image_id:
            return False
        return all(self.unpacker.snapshotter.get(key) is not None for key in chain_ids(config.diff_ids))

    def _fetch_layers(self, repo: Repository, manifest: Manifest, config: ImageConfig) -> None:
        if len(config.diff_ids) != len(manifest.layers):
            raise LayerError(
                f"image has {len(manifest.layers)} layers "
                f"but its config lists {len(config.diff_ids)} diff IDs"
            )
        for layer in manifest.layers:
            if layer.media_type not in mt.LAYER_TYPES:
                raise InvalidArgument(f"layer {layer.digest.short} has unknown media type {layer.media_type}")
        chain = chain_ids(config.diff_ids)
        for key, layer in zip(chain, manifest.layers, strict=True):
            if self.unpacker.snapshotter.get(key) is None:
                self.progress(ProgressEvent(layer.digest.short, "Pulling fs layer"))

        def open_layer(layer: Descriptor) -> LayerInput:
            if self.content.exists(layer.digest):
                return StoredLayer(self.content, layer)
            partial = self.content.partial(layer.digest, layer.size)  # waits for another puller
            if self.content.exists(layer.digest):
                partial.discard()  # the other puller stored it: nothing of ours to keep
                return StoredLayer(self.content, layer)
            if partial.offset:
                self.progress(ProgressEvent(layer.digest.short, "Resuming", partial.offset, layer.size))
            return RemoteLayer(repo, layer, partial, self.retry)

        if not self.unpacker.snapshotter.layers_independent:
            # Each copy snapshot starts from its parent's: download side by side, then unpack in order.
            self._download_all(repo, manifest, chain)
            self.unpacker.unpack(manifest, config, self.progress)
            return
        try:
            self.unpacker.unpack(manifest, config, self.progress, opener=open_layer, workers=self.downloads)
        except LayerError as exc:
            raise LayerError(f"pulling {repo.name}: {exc.message}", hint=exc.hint) from None

    def _download_all(self, repo: Repository, manifest: Manifest, chain: list[Digest]) -> None:
        wanted = [
            layer
            for key, layer in zip(chain, manifest.layers, strict=True)
            if self.unpacker.snapshotter.get(key) is None and not self.content.exists(layer.digest)
        ]
        if not wanted:
            return
        with ThreadPoolExecutor(max_workers=min(self.downloads, len(wanted))) as pool:
            futures = [pool.submit(self._download, repo, layer) for layer in wanted]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _download(self, repo: Repository, layer: Descriptor) -> None:
        partial = self.content.partial(layer.digest, layer.size)
        if self.content.exists(layer.digest):
            partial.discard()  # the other puller stored it: nothing of ours to keep
            return
        reader = ResumingReader(repo, layer, partial, self.retry)
        short = layer.digest.short
        digest = hashlib.sha256()
        done = 0
        try:
            while data := reader.read(1 << 20):
                digest.update(data)
                done += len(data)
                self.progress(ProgressEvent(short, "Downloading", done, layer.size))
            reader.close()
            partial.commit(Digest.from_hex(digest.hexdigest()))  # discards the file on a mismatch
        except BaseException:
            reader.close()
            partial.close()
            raise
        self.progress(ProgressEvent(short, "Download complete", done, layer.size))


def _media_type(announced: str, data: bytes) -> str:
    # Some registries answer application/json or nothing: the document says what it is.
    if announced in mt.INDEX_TYPES or announced in mt.MANIFEST_TYPES or announced in SCHEMA1_TYPES:
        return announced
    return sniff_media_type(data) or announced


def _platform_text(platform: object) -> str:
    if not isinstance(platform, dict):
        return "?"
    text = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
    return f"{text}/{platform['variant']}" if platform.get("variant") else text

"""Pushing an image to a registry: blobs first (side by side), the manifest last.

For each blob: a HEAD says whether the repository has it already; else, when the store
remembers another repository of the same registry holding it (pulled from or pushed to
there), the registry is asked to mount it from there, which copies nothing; else it is
uploaded, in one PUT or in PATCH chunks of the configured size. The manifest goes up only
after every blob it names is in place, so a tag never points at a half-pushed image.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from cove.content.store import ContentStore
from cove.errors import FailedPrecondition
from cove.images.store import ImageRecord, ImageStore
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, Manifest
from cove.oci.reference import Reference
from cove.progress import Progress, ProgressEvent, no_progress
from cove.registry.client import Repository
from cove.registry.errors import RegistryError


class PushResult(NamedTuple):
    reference: Reference
    digest: Digest
    size: int  # of the manifest, as Docker prints it


class Pusher:
    def __init__(
        self,
        content: ContentStore,
        images: ImageStore,
        *,
        uploads: int = 5,
        chunk_size: int = 0,
        progress: Progress = no_progress,
    ) -> None:
        self.content = content
        self.images = images
        self.uploads = max(1, uploads)
        self.chunk_size = chunk_size  # 0: each blob in one PUT
        self.progress = progress

    def push(self, repo: Repository, ref: Reference, record: ImageRecord) -> PushResult:
        manifest_bytes = self.content.read(record.manifest_digest)
        manifest = Manifest.parse(manifest_bytes)
        blobs = [*manifest.layers, manifest.config]
        for blob in blobs:
            if not self.content.exists(blob.digest):
                raise FailedPrecondition(
                    f"cannot push {ref.familiar()}: blob {blob.digest.short} is not in the store",
                    hint="pull or build the image again",
                )
        for layer in manifest.layers:
            self.progress(ProgressEvent(layer.digest.short, "Preparing"))
        with ThreadPoolExecutor(max_workers=min(self.uploads, len(blobs))) as pool:
            futures = [pool.submit(self._push_blob, repo, ref.domain, blob) for blob in blobs]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        tag = ref.tag or "latest"
        digest = repo.put_manifest(tag, manifest_bytes, record.manifest_media_type)
        self.images.record_sources(ref.domain, ref.path, [str(b.digest) for b in blobs])
        self.images.add(
            config_digest=record.id,
            manifest_digest=record.manifest_digest,
            media_type=record.manifest_media_type,
            size=record.size,
            created=record.created,
            repo_digests=[f"{ref.name}@{digest}"],
        )
        return PushResult(ref, digest, len(manifest_bytes))

    def _push_blob(self, repo: Repository, domain: str, blob: Descriptor) -> None:
        short = blob.digest.short
        is_layer = blob.media_type not in mt.CONFIG_TYPES  # the config gets no line, as with Docker
        if repo.blob_size(blob.digest) is not None:
            if is_layer:
                self.progress(ProgressEvent(short, "Layer already exists"))
            return
        location = None
        for source in self.images.sources(str(blob.digest), domain):
            if source == repo.path:
                continue  # it was there once, but HEAD just said it is gone
            try:
                location = repo.mount(blob.digest, source)
            except RegistryError as exc:
                if not 400 <= exc.status < 500:
                    raise
                self.images.forget_source(str(blob.digest), domain, source)
                continue
            if location is None:
                if is_layer:
                    self.progress(ProgressEvent(short, f"Mounted from {source}"))
                return
            break  # the registry started an upload instead: use it
        if location is None:
            location = repo.start_upload()
        size = blob.size
        done = 0

        def report(n: int) -> None:
            nonlocal done
            done += n
            if is_layer:
                self.progress(ProgressEvent(short, "Pushing", done, size))

        with self.content.open(blob.digest) as f:
            repo.upload(location, blob.digest, size, f, chunk_size=self.chunk_size or size, progress=report)
        if is_layer:
            self.progress(ProgressEvent(short, "Pushed"))

"""ImageService: list, inspect, tag, remove, prune, history, import, save, load, bootstrap."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cove.build.changes import apply_changes
from cove.containers.store import ContainerStore
from cove.engine.filters import (
    check_filters,
    label_filters_match,
    labels_match,
    parse_bool_filter,
    until_filter,
)
from cove.engine.sources import open_source
from cove.engine.store import Store
from cove.engine.types import HistoryRow, ImageDetails, ImageSummary, LoadResult, PruneReport, RemoveResult
from cove.errors import (
    Conflict,
    CoveError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from cove.host.atomic import atomic_output
from cove.images.store import ImageRecord
from cove.oci.digest import Digest, chain_ids
from cove.oci.platform import parse_platform
from cove.oci.reference import Reference, parse_reference, reference_matches
from cove.oci.timestamps import timestamp
from cove.progress import Progress, no_progress

if TYPE_CHECKING:
    from cove.images.load import LoadedImage

IMAGE_FILTERS = frozenset({"dangling", "label", "reference", "before", "since"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})


def familiar(name: str) -> str:
    return parse_reference(name, default_tag=False).familiar()


class ImageService:
    def __init__(self, store: Store, running: Callable[[str], bool] | None = None) -> None:
        self.store = store
        self.images = store.images
        # Whether a container runs (its real state); the container service answers it.
        self.running = running or (lambda cid: False)

    # -- reading ---------------------------------------------------------------------

    def _summary(self, record: ImageRecord, users: dict[str, int]) -> ImageSummary:
        try:
            labels = self.images.config(record).labels
        except CoveError:
            labels = {}
        return ImageSummary(
            id=record.id,
            repo_tags=[familiar(t) for t in record.tags],
            repo_digests=[familiar(d) for d in record.repo_digests],
            created=record.created,
            size=record.size,
            labels=labels,
            containers=users.get(record.id, 0),
        )

    def _user_counts(self) -> dict[str, int]:
        return ContainerStore(self.store.db).image_counts()

    def list_images(
        self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None
    ) -> list[ImageSummary]:
        filters = filters or {}
        check_filters(filters, IMAGE_FILTERS)
        users = self._user_counts()
        summaries = [self._summary(r, users) for r in self.images.records()]
        if "dangling" in filters:
            dangling = parse_bool_filter("dangling", filters["dangling"])
            summaries = [s for s in summaries if (not s.repo_tags) == dangling]
        if "label" in filters:
            summaries = [s for s in summaries if labels_match(s.labels, filters["label"])]
        for key, keep_newer in (("before", False), ("since", True)):
            for value in filters.get(key, []):
                pivot = timestamp(self.images.resolve(value).created)
                summaries = [
                    s
                    for s in summaries
                    if (timestamp(s.created) > pivot if keep_newer else timestamp(s.created) < pivot)
                ]
        if "reference" in filters:
            patterns = filters["reference"]
            kept = []
            for s in summaries:
                tags = [
                    t for t in s.repo_tags if any(reference_matches(parse_reference(t), p) for p in patterns)
                ]
                if tags:
                    kept.append(
                        ImageSummary(s.id, tags, s.repo_digests, s.created, s.size, s.labels, s.containers)
                    )
            summaries = kept
        return summaries

    def inspect(self, name: str) -> ImageDetails:
        record, ref = self.images.lookup(name)
        config = self.images.config(record)
        paths = []
        snapshots = self.store.snapshotter
        chain = chain_ids(config.diff_ids)
        for key in reversed(chain):
            info = snapshots.get(key)
            if info is not None:
                paths.append(str(snapshots.fs(info.id)))
        return ImageDetails(
            id=record.id,
            repo_tags=[familiar(t) for t in record.tags],
            repo_digests=[familiar(d) for d in record.repo_digests],
            manifest_digest=record.manifest_digest,
            manifest_media_type=record.manifest_media_type,
            config=config.raw,
            size=record.size,
            added=record.added,
            driver=snapshots.driver,
            layer_paths=paths,
            tagged=None if ref is None else self.images.tag_time(ref),
        )

    def history(self, name: str) -> list[HistoryRow]:
        record = self.images.resolve(name)
        config = self.images.config(record)
        chain = chain_ids(config.diff_ids)
        sizes = []
        for key in chain:
            info = self.store.snapshotter.get(key)
            sizes.append(info.size if info else 0)
        history = config.history or [{"created": config.created, "created_by": ""} for _ in chain]
        rows: list[HistoryRow] = []
        layer = 0
        for entry in history:
            empty = bool(entry.get("empty_layer"))
            size = 0
            if not empty and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            rows.append(
                HistoryRow(
                    id="<missing>",
                    created=entry.get("created"),
                    created_by=str(entry.get("created_by", "")),
                    size=size,
                    comment=str(entry.get("comment", "")),
                    empty_layer=empty,
                )
            )
        rows.reverse()
        if rows:
            top = rows[0]
            rows[0] = HistoryRow(
                record.id, top.created, top.created_by, top.size, top.comment, top.empty_layer
            )
        return rows

    # -- names -----------------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        record = self.images.resolve(source)
        ref = parse_reference(target)
        if ref.digest is not None:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        self.images.tag(record.id, ref)

    # -- removal ---------------------------------------------------------------------

    def remove(self, names: list[str], *, force: bool = False, prune: bool = True) -> list[RemoveResult]:
        results = []
        with self.store.collecting():
            for name in names:
                result = RemoveResult(name)
                try:
                    self._remove_one(name, force, result)
                except CoveError as exc:
                    result.error = exc
                results.append(result)
            if prune and any(r.deleted for r in results):
                before = {s.key for s in self.store.snapshotter.all()}
                self.store.collect_garbage()
                after = {s.key for s in self.store.snapshotter.all()}
                gone = sorted(before - after)
                for r in results:
                    if r.deleted:
                        r.deleted.extend(k for k in gone if k.startswith("sha256:"))
                        break
        return results

    def _remove_one(self, name: str, force: bool, result: RemoveResult) -> None:
        record, ref = self.images.lookup(name)
        users = ContainerStore(self.store.db).of_image(record.id)
        live = {u[0]: self.running(u[0]) for u in users}
        running = [u for u in users if live[u[0]]]
        stopped = [u for u in users if not live[u[0]]]
        names = list(record.tags) + list(record.repo_digests)
        short = record.id.short
        if ref is not None:
            key = f"{ref.name}@{ref.digest}" if ref.digest else str(ref)
            if key not in names:  # found through the manifest digest
                key = names[0] if names else key
            # As Docker: untagging a repository's last tag also drops that repository's digests.
            dropped = [key]
            if ref.digest is None and not any(
                n != key and "@" not in n and parse_reference(n).name == ref.name for n in names
            ):
                dropped += [n for n in names if "@" in n and n.split("@")[0] == ref.name]
            if len(names) > len(dropped):
                for name_ in dropped:
                    self.images.untag(name_)
                    result.untagged.append(familiar(name_))
                return
            if users and not force:
                raise Conflict(
                    f'unable to remove repository reference "{name}" (must force) - '
                    f"container {users[0][0][:12]} is using its referenced image {short}",
                    hint=f"remove the container first (cove rm {users[0][1]}), or use -f",
                )
            if running:
                raise Conflict(
                    f"unable to delete {short} (cannot be forced) - image is being used by running "
                    f"container {running[0][0][:12]}",
                    hint=f"stop and remove the container first (cove rm -f {running[0][1]})",
                )
            for name_ in dropped:
                self.images.untag(name_)
                result.untagged.append(familiar(name_))
        else:
            if len(names) > 1 and not force:
                raise Conflict(
                    f"unable to delete {short} (must be forced) - "
                    "image is referenced in multiple repositories",
                    hint="remove it by name, one tag at a time, or use -f",
                )
            if running:
                raise Conflict(
                    f"unable to delete {short} (cannot be forced) - image is being used by running "
                    f"container {running[0][0][:12]}",
                    hint=f"stop and remove the container first (cove rm -f {running[0][1]})",
                )
            if stopped and not force:
                raise Conflict(
                    f"unable to delete {short} (must be forced) - image is being used by stopped "
                    f"container {stopped[0][0][:12]}",
                    hint=f"remove the container first (cove rm {stopped[0][1]}), or use -f",
                )
            for tag in names:
                self.images.untag(tag)
                result.untagged.append(familiar(tag))
        self.images.delete(record.id)
        result.deleted.append(record.id)

    def prune(self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None) -> PruneReport:
        filters = filters or {}
        check_filters(filters, PRUNE_FILTERS)
        until = until_filter(filters)
        with self.store.collecting(partials=True) as partials_freed:
            usage_before = self._store_usage() + partials_freed
            used = set(self._user_counts())
            deleted: list[str] = []
            untagged: list[str] = []
            for record in self.images.records():
                if record.id in used or (record.tags and not all):
                    continue
                if until is not None and record.added >= until:
                    continue
                if "label" in filters or "label!" in filters:
                    try:
                        labels = self.images.config(record).labels
                    except CoveError:
                        labels = {}
                    if not label_filters_match(labels, filters):
                        continue
                for tag in (*record.tags, *record.repo_digests):
                    self.images.untag(tag)
                    untagged.append(familiar(tag))
                self.images.delete(record.id)
                deleted.append(record.id)
            self.store.collect_garbage()
            reclaimed = max(0, usage_before - self._store_usage())
        return PruneReport(untagged=tuple(untagged), images=tuple(deleted), space_reclaimed=reclaimed)

    def _store_usage(self) -> int:
        content = self.store.content
        blobs = sum(content.disk_usage(d) for d in content.digests())
        snaps = sum(self.store.snapshotter.usage(s.key)[0] for s in self.store.snapshotter.all())
        return blobs + snaps

    # -- adding images -----------------------------------------------------------------

    def import_(
        self,
        source: str,
        reference: str | None = None,
        *,
        changes: list[str] | None = None,
        message: str | None = None,
        platform: str | None = None,
        progress: Progress = no_progress,
    ) -> Digest:
        tags: list[Reference] = []
        if reference:
            ref = parse_reference(reference)
            if ref.digest is not None:
                raise InvalidArgument(f"cannot import to a digest reference: {reference}")
            tags.append(ref)
        container_config = apply_changes({}, changes or [])
        plat = parse_platform(platform) if platform else None
        from cove.images import importer

        with self.store.writing(), open_source(source) as (stream, total):
            result = importer.import_rootfs(
                stream,
                content=self.store.content,
                images=self.images,
                snapshotter=self.store.snapshotter,
                unpacker=self.store.unpacker,
                tags=tags,
                container_config=container_config,
                comment=message or f"Imported from {source}",
                platform=plat,
                total=total,
                progress=progress,
            )
        return result.id

    def load(self, source: Path | None, *, progress: Progress = no_progress) -> list[LoadResult]:
        """Load a docker-archive, oci-archive (a file, or stdin when None) or oci-dir (a directory)."""
        with self.store.writing():
            if source is None:
                if sys.stdin.isatty():
                    raise InvalidArgument(
                        "requested load from stdin, but stdin is empty",
                        hint="use -i FILE or pipe an archive in",
                    )
                loaded = self._load(sys.stdin.buffer, progress)
            elif source.is_dir():
                loaded = self._load(source, progress)
            else:
                try:
                    f = open(source, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    raise NotFound(f"no such file: {source}") from None
                with f:
                    loaded = self._load(f, progress)
        return [
            LoadResult(
                item.id, [t.familiar() for t in item.tags], [(familiar(a), b) for a, b in item.moved_tags]
            )
            for item in loaded
        ]

    def _load(self, source: BinaryIO | Path, progress: Progress) -> list[LoadedImage]:
        from cove.images.load import load_archive

        return load_archive(
            source,
            content=self.store.content,
            images=self.images,
            unpacker=self.store.unpacker,
            progress=progress,
        )

    def save(
        self,
        names: list[str],
        *,
        fmt: str = "docker-archive",
        output: Path | None = None,
        stream: BinaryIO | None = None,
        progress: Progress = no_progress,
    ) -> None:
        """Write images to ``output`` (a file, or a directory for oci-dir) or to ``stream``."""
        from cove.images import save

        if not names:
            raise InvalidArgument("save needs at least one image")
        items = save.save_items(self.images, names)
        saver = save.Saver(self.store.content, self.images, progress)
        if output is None:
            if stream is None or fmt == save.OCI_DIR:
                raise InvalidArgument("save needs an output (-o FILE, or -o DIR for oci-dir)")
            saver.save(items, fmt, stream, None)
            return
        if not output.parent.is_dir():
            raise NotFound(f"cannot write {output}: its directory does not exist")
        if fmt == save.OCI_DIR:
            if output.exists() and (not output.is_dir() or any(output.iterdir())):
                raise FailedPrecondition(f"{output} exists and is not an empty directory")
            with atomic_output(output, directory=True, flush=self.store.content.flush) as tmp:
                saver.save(items, fmt, None, tmp)
            return
        if output.is_dir():
            raise InvalidArgument(f"{output} is a directory", hint="give a file name, or --format oci-dir")
        with atomic_output(output, flush=self.store.content.flush) as tmp, open(tmp, "wb") as f:
            saver.save(items, fmt, f, None)

    def bootstrap(
        self,
        name: str,
        *,
        tag: str | None = None,
        cache_dir: Path | None = None,
        mirror: str | None = None,
        busybox_binary: Path | None = None,
        progress: Progress = no_progress,
    ) -> Digest:
        """Make a built-in image: ``busybox`` or ``debian[:SUITE]``."""
        base = parse_reference(name, default_tag=False)
        short = base.familiar_name()
        target = parse_reference(tag) if tag else base.tagged_or_latest()
        from cove.images import bootstrap

        with self.store.writing():
            if short == "busybox":
                result = bootstrap.bootstrap_busybox(
                    content=self.store.content,
                    images=self.images,
                    unpacker=self.store.unpacker,
                    runner=self.store.runner,
                    tag=target,
                    binary=busybox_binary,
                    progress=progress,
                )
            elif short == "debian":
                suite = base.tag or "bookworm"
                if not tag:
                    target = base.with_tag(suite)
                result = bootstrap.bootstrap_debian(
                    content=self.store.content,
                    images=self.images,
                    snapshotter=self.store.snapshotter,
                    unpacker=self.store.unpacker,
                    runner=self.store.runner,
                    tag=target,
                    suite=suite,
                    work_dir=self.store.tmp_dir,
                    cache_dir=cache_dir,
                    mirror=mirror,
                    progress=progress,
                )
            else:
                raise InvalidArgument(
                    f"cove cannot bootstrap {name!r}", hint="built-in images: busybox, debian[:SUITE]"
                )
        return result.id

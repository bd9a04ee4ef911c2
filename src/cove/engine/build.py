"""The build service: ``cove build`` on the local store, and the backend the executor runs on.

RUN: a writable snapshot over the step's parent layers, the command run on it in the
runtime (``engine/build_run``), then the snapshot's changes written as the layer blob and
the snapshot itself committed as that layer, so nothing is unpacked twice. COPY/ADD: the
layer writer fills the blob and the new snapshot in one pass (an ADD of an archive is
unpacked from the blob instead). Work directories live under ``build/work``; what a killed build leaves there
(mounts, snapshots, runtime state) is cleared by :func:`clean_leftovers`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import TarReader
from cove.build.cachestore import BuildCache
from cove.build.context import IGNORE_FILE, Context
from cove.build.digestmemo import DigestMemo
from cove.build.digestmemo import forget_all as forget_digests
from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.dockerignore import Matcher
from cove.build.excerpt import excerpt_of
from cove.build.executor import BuildEvent, BuildOptions, BuiltImage, Executor
from cove.build.instructions import parse_instructions
from cove.build.stages import plan
from cove.engine.build_backend import BUILD_PREFIX, LocalBuildBackend, WorkArea
from cove.engine.build_context import DOCKERFILE_MAX
from cove.engine.filters import check_filters, until_filter
from cove.engine.runtimes import choose_runtime
from cove.engine.store import Store
from cove.engine.types import PruneReport
from cove.errors import CoveError, InvalidArgument
from cove.host.guard import Guard
from cove.host.inroot import Root
from cove.host.trees import OnFailure, remove_quietly, remove_tree
from cove.images.importer import store_unpacked
from cove.oci.image import ImageConfig
from cove.oci.platform import host_platform, parse_platform
from cove.oci.reference import Reference, parse_reference
from cove.runtime.oci import OciRuntime
from cove.snapshots.usage import disk_usage

BUILD_CACHE_PRUNE_FILTERS = frozenset({"until"})


@dataclass(frozen=True)
class BuildRequest:
    dockerfile: str  # the Dockerfile's text
    context: Path  # the context directory
    ignore_file: Path | None = None  # a Dockerfile-specific .dockerignore, if there is one
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    platform: str | None = None
    network: str = "default"
    secrets: dict[str, Path] = field(default_factory=dict)
    output: dict[str, str] | None = None  # --output type=local|tar,dest=...
    output_stream: BinaryIO | None = None  # where a tar goes for dest=- (the caller's stdout)
    docker_config: Path | None = None  # for pulling base images


@dataclass(frozen=True)
class BuildResult:
    image_id: str  # "" when the result was exported instead of stored
    tags: list[str]
    steps: int
    cached_steps: int
    warnings: list[str]


__all__ = ["BuildEvent", "BuildRequest", "BuildResult", "BuildService", "DockerfileError", "excerpt_of"]

Puller = Callable[[str, str, Path | None], None]


class BuildService:
    def __init__(self, store: Store, pull: Puller) -> None:
        self.store = store
        self._pull = pull
        self.cache = BuildCache(store.db)
        self.work_dir = store.root / "build" / "work"
        self.cache_mounts = store.root / "build" / "mounts"
        # The runtime RUN steps use: chosen once, for every build this service runs.
        self._runtime: OciRuntime | None = None
        # Undoes a RUN step's container, mounts and work directories should this process be
        # killed (kill -9 leaves no time for its own cleanup; the store's tidy-up would
        # otherwise wait for the next cove command).
        self.guard = Guard()
        self.work = WorkArea(self.work_dir, self.guard, store.host)

    def close(self) -> None:
        self.guard.close()

    # -- the front door --------------------------------------------------------------------

    def build(self, request: BuildRequest, report: Callable[[BuildEvent], None]) -> BuildResult:
        syntax = parse_syntax(request.dockerfile)
        instructions = parse_instructions(syntax)
        host = host_platform()
        target_platform = parse_platform(request.platform) if request.platform else host
        build_plan = plan(
            instructions,
            request.build_args,
            target=request.target,
            target_platform=target_platform,
            build_platform=host,
            escape=syntax.escape,
        )
        warnings = [f"line {w.line}: {w.message}" for w in syntax.warnings]
        warnings += [f"line {x.line}: {text}" for x in instructions for text in x.warnings]
        if build_plan.unused_build_args:
            names = ", ".join(build_plan.unused_build_args)
            warnings.append(f"build args were given but not used by any stage: {names}")
        matcher = None
        if request.ignore_file is not None:
            matcher = Matcher.from_text(request.ignore_file.read_text())
        # Digests of a directory context's files are remembered; an unpacked tar's are not worth it.
        root = request.context.resolve()
        memo = None if root.is_relative_to(self.work_dir) else DigestMemo(self.store.db, str(root))
        context = Context(root, matcher, memo)
        tags = [parse_reference(t) for t in request.tags]
        options = BuildOptions(
            build_args=request.build_args,
            no_cache=request.no_cache,
            pull=request.pull,
            labels=request.labels,
            network=request.network,
            secrets=request.secrets,
            platform=str(target_platform),
            build_platform=str(host),
        )
        backend = self.backend(request.docker_config)
        with self.store.writing():
            executor = Executor(backend, build_plan, context, options, escape=syntax.escape, report=report)
            try:
                built = executor.build()
            finally:
                if memo is not None:
                    memo.save()
            number = executor.next_step
            started = time.monotonic()
            if request.output is not None:
                name = f"exporting to {request.output.get('type', 'local')}"
                report(BuildEvent(number, name, "start"))
                backend.export(built.layers, request.output, request.output_stream)
                report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))
                return BuildResult("", [], built.steps, built.cached_steps, warnings)
            report(BuildEvent(number, "exporting to image", "start"))
            image_id = self._store(built, tags)
            report(BuildEvent(number, "exporting to image", "note", f"writing image {image_id} done"))
            for ref in tags:
                report(BuildEvent(number, "exporting to image", "note", f"naming to {ref} done"))
            report(BuildEvent(number, "exporting to image", "done", elapsed=time.monotonic() - started))
        return BuildResult(image_id, [str(t) for t in tags], built.steps, built.cached_steps, warnings)

    def backend(self, docker_config: Path | None = None) -> LocalBuildBackend:
        """A backend of its own for one build request (its base images pulled with ``docker_config``)."""

        def pull(name: str, platform: str) -> None:
            self._pull(name, platform, docker_config)

        return LocalBuildBackend(self.store, self.cache, self.work, self.cache_mounts, self.runtime, pull)

    def runtime(self) -> OciRuntime:
        if self._runtime is None:
            info = choose_runtime(self.store)
            self._runtime = OciRuntime(
                info, self.store.config.runtime_dir / "runtime" / info.name, self.store.runner
            )
        return self._runtime

    def _store(self, built: BuiltImage, tags: list[Reference]) -> str:
        store = self.store
        descriptors = [layer.descriptor for layer in built.layers]
        config = ImageConfig(built.config)
        return str(
            store_unpacked(store.content, store.images, store.unpacker, config, descriptors, tags=tags).id
        )

    # -- contexts that arrive as a stream ---------------------------------------------------

    @contextlib.contextmanager
    def context_from_archive(self, source: BinaryIO) -> Iterator[Path]:
        """A context tar (plain or compressed), unpacked as it streams in, for the build's time."""
        with self.work.directory("context-") as (_, directory):
            root = directory / "context"
            root.mkdir()
            read_context_archive(source, root)
            yield root

    @staticmethod
    def context_file(root: Path, name: str) -> str | None:
        """A file of the context (its Dockerfile, say), read inside it: a link there cannot
        make the build read, and show in its errors, a file of the host."""
        with Root(root) as context:
            data = context.read_file(name, DOCKERFILE_MAX)
        return None if data is None else data.decode(errors="replace")

    # -- the cache: usage and pruning ----------------------------------------------------------

    def cache_usage(self) -> tuple[int, set[str], set[str], int]:
        """(records, layer blobs, snapshot chainIDs, bytes of the cache mounts) of the cache."""
        records = self.cache.count()
        blobs, chains = self.cache.roots()
        mounts = disk_usage(self.cache_mounts)[0] if self.cache_mounts.exists() else 0
        return records, blobs, chains, mounts

    def _image_layers(self) -> set[str]:
        used: set[str] = set()
        for record in self.store.images.records():
            with contextlib.suppress(CoveError):
                used.update(str(d.digest) for d in self.store.images.manifest(record).layers)
        return used

    def prune(
        self,
        *,
        all: bool = False,
        filters: Mapping[str, list[str]] | None = None,
        collect: bool = True,
    ) -> PruneReport:
        """Forget cache records (only those whose layers no image uses, unless ``all``; with an
        ``until`` filter, only those last used before it) and, with ``all``, the cache mounts;
        then collect what nothing holds any more."""
        filters = filters or {}
        check_filters(filters, BUILD_CACHE_PRUNE_FILTERS)
        until = until_filter(filters)
        used = self._image_layers()
        doomed = []
        for entry in self.cache.all():
            if until is not None and entry.last_used > until:
                continue
            in_image = entry.layer is not None and str(entry.layer.digest) in used
            if all or not in_image:
                doomed.append(entry.key)
        before = disk_usage(self.store.root)[0]

        def forget() -> None:
            self.cache.delete(doomed)
            if all:
                forget_digests(self.store.db)
                if self.cache_mounts.exists():
                    remove_quietly(self.cache_mounts)

        if collect:
            # Unfinished downloads go first: on a full disk they make room for the database.
            with self.store.collecting(partials=True):
                forget()
                self.store.collect_garbage()
        else:
            forget()
        return PruneReport(
            build_cache=tuple(doomed), space_reclaimed=max(0, before - disk_usage(self.store.root)[0])
        )


def clean_leftovers(store: Store, failed: OnFailure) -> None:
    """What a killed build left: mounts and directories under build/work, its writable
    snapshots, and runtime containers still named after them."""
    work = store.root / "build" / "work"
    names: set[str] = set()
    if work.exists():
        for entry in os.scandir(work):
            names.add(entry.name)
            try:  # its rootfs, and the binds a RUN stages there (a user's context among them)
                store.host.unmount_all_under(Path(entry.path))
                remove_tree(entry.path)  # (which never enters a mount point left there)
            except (OSError, CoveError) as exc:
                failed(Path(entry.path), exc)
    for key in store.snapshotter.writable_keys(BUILD_PREFIX):
        names.add(key)
        with contextlib.suppress(CoveError):
            store.snapshotter.remove(key)
    if names:
        with contextlib.suppress(CoveError):
            info = choose_runtime(store)
            runtime = OciRuntime(info, store.config.runtime_dir / "runtime" / info.name, store.runner)
            for name in names:
                if not name.startswith(BUILD_PREFIX):
                    continue
                with contextlib.suppress(CoveError):
                    runtime.delete(name, force=True)


def read_context_archive(source: BinaryIO, target: Path) -> None:
    """Unpack a context tar (plain or compressed) streamed from ``source`` into ``target``,
    with the layer applier's guards (nothing lands outside ``target``)."""
    try:
        stream = LayerStream(source, threaded=False)
        apply_layer(TarReader(ChunkReader(stream.chunks())), target, WhiteoutMode.APPLY)
    except CoveError as exc:
        raise InvalidArgument(f"the build context is not a valid tar archive: {exc.message}") from None


def find_ignore_file(dockerfile: Path | None) -> Path | None:
    """``<Dockerfile>.dockerignore`` next to the Dockerfile, which wins over the context's own
    (that one the context reads itself, inside it)."""
    if dockerfile is not None:
        own = dockerfile.with_name(dockerfile.name + IGNORE_FILE)
        if own.is_file():
            return own
    return None

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
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader, LayerStream
from cove.archive.tarstream import TarReader
from cove.archive.treetar import TreeTar
from cove.build.backend import BaseImage, Layer, LayerWriter, RunFailed, RunRequest
from cove.build.cachestore import BuildCache
from cove.build.context import IGNORE_FILE, Context
from cove.build.digestmemo import DigestMemo
from cove.build.digestmemo import forget_all as forget_digests
from cove.build.dockerfile import DockerfileError, parse
from cove.build.dockerignore import Matcher
from cove.build.executor import BuildEvent, BuildOptions, BuiltImage, Executor
from cove.build.stages import plan
from cove.containers.users import resolve_user
from cove.engine.build_run import MOUNT_POINTS, mount_targets, run_in_sandbox
from cove.engine.filters import check_filters, until_filter
from cove.engine.runtimes import choose_runtime
from cove.engine.store import Store
from cove.engine.types import PruneReport
from cove.errors import CoveError, ImageNotFound, InvalidArgument, Unavailable
from cove.host.guard import Action, Guard, Remove, RunProgram, Unmount
from cove.host.inroot import Root
from cove.host.mounts import mount_all, unmount, unmount_all_under
from cove.host.trees import OnFailure, remove_quietly, remove_tree
from cove.images import diff as snapshot_diff
from cove.images.importer import store_unpacked
from cove.images.unpack import whiteout_mode
from cove.oci import mediatypes as mt
from cove.oci.digest import chain_ids
from cove.oci.image import Descriptor, ImageConfig
from cove.oci.mount import Mount
from cove.oci.platform import host_platform, parse_platform
from cove.oci.reference import Reference, parse_reference
from cove.runtime.oci import OciRuntime
from cove.snapshots.usage import disk_usage

DOCKERFILE_MAX = 4 << 20  # bytes: a Dockerfile is text
BUILD_PREFIX = "build-"
BUILD_CACHE_PRUNE_FILTERS = frozenset({"until"})
DOWNLOAD_TIMEOUT = 60


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


__all__ = ["BuildEvent", "BuildRequest", "BuildResult", "BuildService", "DockerfileError"]

Puller = Callable[[str, str, Path | None], None]


class BuildService:
    def __init__(self, store: Store, pull: Puller) -> None:
        self.store = store
        self._pull = pull
        self.cache = BuildCache(store.db)
        self.work_dir = store.root / "build" / "work"
        self.cache_mounts = store.root / "build" / "mounts"
        self._docker_config: Path | None = None
        self._runtime: OciRuntime | None = None
        # Undoes a RUN step's container, mounts and work directories should this process be
        # killed (kill -9 leaves no time for its own cleanup; the store's tidy-up would
        # otherwise wait for the next cove command).
        self.guard = Guard()

    def close(self) -> None:
        self.guard.close()

    # -- the front door --------------------------------------------------------------------

    def build(self, request: BuildRequest, report: Callable[[BuildEvent], None]) -> BuildResult:
        dockerfile = parse(request.dockerfile)
        host = host_platform()
        target_platform = parse_platform(request.platform) if request.platform else host
        build_plan = plan(
            dockerfile,
            request.build_args,
            target=request.target,
            target_platform=target_platform,
            build_platform=host,
        )
        warnings = list(dockerfile.warnings)
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
        self._docker_config = request.docker_config
        with self.store.writing():
            executor = Executor(self, build_plan, context, options, escape=dockerfile.escape, report=report)
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
                self.export(built.layers, request.output, request.output_stream)
                report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))
                return BuildResult("", [], built.steps, built.cached_steps, warnings)
            report(BuildEvent(number, "exporting to image", "start"))
            image_id = self._store(built, tags)
            report(BuildEvent(number, "exporting to image", "note", f"writing image {image_id} done"))
            for ref in tags:
                report(BuildEvent(number, "exporting to image", "note", f"naming to {ref} done"))
            report(BuildEvent(number, "exporting to image", "done", elapsed=time.monotonic() - started))
        return BuildResult(image_id, [str(t) for t in tags], built.steps, built.cached_steps, warnings)

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
        with self._work("context-") as (_, directory):
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

    # -- the executor's backend ------------------------------------------------------------

    def base_image(self, name: str, platform: str, pull: bool) -> BaseImage:
        images = self.store.images
        record = None
        if not pull:
            with contextlib.suppress(ImageNotFound):
                record = images.resolve(name)
        if record is None:
            try:
                self._pull(name, platform, self._docker_config)
            except CoveError as exc:
                raise type(exc)(
                    f"base image {name}: {exc.message}", hint=exc.hint or "pull or build it first"
                ) from None
            record = images.resolve(name)
        config = images.config(record)
        manifest = images.manifest(record)
        self.store.unpacker.unpack(manifest, config)
        layers = tuple(Layer(d, diff) for d, diff in zip(manifest.layers, config.diff_ids, strict=True))
        return BaseImage(str(record.id), config.raw, layers)

    def layers_present(self, layers: Sequence[Layer]) -> bool:
        if not layers:
            return True
        top = chain_ids([layer.diff_id for layer in layers])[-1]
        return self.store.snapshotter.get(top) is not None and self.store.content.exists(
            layers[-1].descriptor.digest
        )

    def _chain(self, layers: Sequence[Layer]) -> str | None:
        return str(chain_ids([layer.diff_id for layer in layers])[-1]) if layers else None

    @contextlib.contextmanager
    def _work(self, prefix: str = BUILD_PREFIX) -> Iterator[tuple[str, Path]]:
        name = prefix + secrets.token_hex(8)
        directory = self.work_dir / name
        token = self.guard.arm([Remove(str(directory))])
        directory.mkdir(parents=True)
        try:
            yield name, directory
        finally:
            # What cannot go now, the store's cleanup retries and reports; never while anything
            # is still mounted under it (a removal must not reach into a mount).
            with contextlib.suppress(OSError, CoveError):
                unmount_all_under(directory)
                remove_quietly(directory)
            self.guard.disarm(token)

    @contextlib.contextmanager
    def _mounted(self, mounts: Sequence[Mount], target: Path, *undo: Action) -> Iterator[None]:
        """``mounts`` on ``target`` for the block's time, and (``undo``) what the block sets up
        there: undone by the guard, should this process die before the block ends."""
        token = self.guard.arm([*undo, Unmount(str(target))])
        try:
            mount_all(mounts, target)
            yield
        finally:
            try:
                unmount(target, lazy=True)
            finally:
                self.guard.disarm(token)

    @contextlib.contextmanager
    def rootfs(self, layers: Sequence[Layer]) -> Iterator[Path]:
        with self._work() as (_, directory):
            target = directory / "rootfs"
            target.mkdir()
            chain = self._chain(layers)
            if chain is None:
                yield target
                return
            with self._mounted(self.store.snapshotter.mounts(chain), target):
                yield target

    def owner(self, layers: Sequence[Layer], spec: str) -> tuple[int, int]:
        with self.rootfs(layers) as path, Root(path) as root:
            user = resolve_user(spec, root)
        return user.uid, user.gid

    def add_layer(self, layers: Sequence[Layer], write: LayerWriter, *, mirror: bool = False) -> Layer | None:
        content = self.store.content
        snapshotter = self.store.snapshotter
        parent = self._chain(layers)
        # Mirrored: the writer fills the new snapshot as it writes the tar (one read of the
        # sources, nothing unpacked); else the stored tar is unpacked into it afterwards.
        ext = snapshotter.begin(parent) if mirror else None
        try:
            with content.writer() as writer:
                if write(cast(BinaryIO, writer), ext.path if ext is not None else None) == 0:
                    if ext is not None:
                        ext.abort()
                    return None
                blob = writer.commit(what="layer")  # a plain tar: its digest is its diffID
                size = writer.size
            self.store.images.record_layer(blob, blob, size)
            chain = str(chain_ids([*(layer.diff_id for layer in layers), blob])[-1])
            if ext is not None:
                with self.store.unpacker.lock(chain).exclusive():
                    usage, content_size = disk_usage(ext.path)
                    ext.commit(chain, parent, size=content_size, usage=usage)
            elif snapshotter.get(chain) is None:
                ext = snapshotter.begin(parent)
                with content.open(blob) as f:
                    stats = apply_layer(
                        TarReader(ChunkReader(iter(lambda: f.read(1 << 20), b""))),
                        ext.path,
                        whiteout_mode(snapshotter),
                    )
                with self.store.unpacker.lock(chain).exclusive():
                    ext.commit(chain, parent, size=stats.content_size, usage=stats.disk_usage)
        except BaseException:
            if ext is not None:
                ext.abort()
            raise
        return Layer(Descriptor(mt.OCI_LAYER, blob, size), blob)

    def runtime(self) -> OciRuntime:
        if self._runtime is None:
            info = choose_runtime(self.store)
            self._runtime = OciRuntime(
                info, self.store.config.runtime_dir / "runtime" / info.name, self.store.runner
            )
        return self._runtime

    def run(
        self, layers: Sequence[Layer], request: RunRequest, output: Callable[[bytes], None]
    ) -> Layer | None:
        snapshotter = self.store.snapshotter
        parent = self._chain(layers)
        with self._work() as (name, directory):
            mounts = snapshotter.prepare(name, parent)
            committed = False
            try:
                rootfs = directory / "rootfs"
                rootfs.mkdir()
                runtime = self.runtime()
                # (the runtime, started in the foreground, dies with this process; its container
                # would not: the guard deletes it, which kills what runs in it)
                with self._mounted(
                    mounts, rootfs, RunProgram(tuple(runtime.argv("delete", "--force", name)))
                ):
                    code = run_in_sandbox(
                        runtime, name, directory, rootfs, request, output, self.cache_mounts
                    )
                if code != 0:
                    raise RunFailed(f"the command exited with code {code}", code)
                for rel in snapshot_diff.fresh_points(
                    snapshotter, name, MOUNT_POINTS | mount_targets(request)
                ):
                    snapshot_diff.remove_stub(snapshotter, name, rel)
                layer = self._commit_run(name, layers)
                committed = True
                return layer
            finally:
                if not committed:
                    with contextlib.suppress(CoveError):
                        snapshotter.remove(name)

    def _commit_run(self, name: str, layers: Sequence[Layer]) -> Layer | None:
        snapshotter = self.store.snapshotter
        content = self.store.content
        with content.writer() as writer:
            count = snapshot_diff.write_layer(snapshotter, name, cast(BinaryIO, writer), set())
            if count == 0:
                writer.abort()
                snapshotter.remove(name)
                return None
            blob = writer.commit(what="layer")
            size = writer.size
        self.store.images.record_layer(blob, blob, size)
        chain = str(chain_ids([*(layer.diff_id for layer in layers), blob])[-1])
        with self.store.unpacker.lock(chain).exclusive():
            snapshotter.commit_active(name, chain)
        return Layer(Descriptor(mt.OCI_LAYER, blob, size), blob)

    def download(self, url: str, dest: Path) -> tuple[str, float | None]:
        # Only for ADD of a URL: not loaded by every build.
        import urllib.error
        import urllib.parse
        import urllib.request
        from email.utils import parsedate_to_datetime

        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(dest, "wb") as f:
                shutil.copyfileobj(response, f, 1 << 20)
                modified = response.headers.get("Last-Modified")
                final_url = response.geturl()
        except (OSError, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # (it holds the response, and with it the connection)
            raise Unavailable(f"cannot download {url}: {exc}") from None
        name = os.path.basename(urllib.parse.urlparse(final_url).path) or "download"
        mtime = None
        if modified:
            with contextlib.suppress(TypeError, ValueError):
                mtime = parsedate_to_datetime(modified).timestamp()
        return name, mtime

    # -- --output ----------------------------------------------------------------------------

    def export(
        self, layers: Sequence[Layer], output: Mapping[str, str], stream: BinaryIO | None = None
    ) -> None:
        kind = output.get("type", "local")
        dest = output.get("dest", "")
        if not dest:
            raise InvalidArgument("--output needs dest=", hint="e.g. --output type=local,dest=out")
        with self.rootfs(layers) as root:
            if kind == "local":
                target = Path(dest)
                target.mkdir(parents=True, exist_ok=True)
                self.store.runner.run(["cp", "-a", "--", f"{root}/.", str(target)])
            elif kind == "tar":
                if dest == "-" and stream is None:
                    raise InvalidArgument("--output dest=- needs a binary standard output")
                with contextlib.ExitStack() as opened:
                    f = (
                        stream
                        if dest == "-" and stream is not None
                        else opened.enter_context(open(dest, "wb"))
                    )
                    tar = TreeTar(f)
                    tar.add_tree(str(root))
                    tar.close()
            else:
                raise InvalidArgument(
                    f"--output type={kind} is not supported", hint="use type=local or type=tar"
                )

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
                unmount_all_under(Path(entry.path))
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

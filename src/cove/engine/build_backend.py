"""One build's backend: what the executor runs on (moby's builder ``Backend``), made anew
for each build request by :class:`~cove.engine.build.BuildService`.

What belongs to one request (the registry credentials its base images are pulled with, its
--output) lives here, so that the service, which a command server keeps for many builds,
holds nothing of any one of them. What every build shares (the store, the cache, the work
area and its guard, the chosen runtime) the backend is handed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from cove.archive.apply import apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.archive.treetar import TreeTar
from cove.build.backend import BaseImage, Layer, LayerWriter, RunFailed, RunRequest
from cove.build.cachestore import BuildCache
from cove.containers.users import resolve_user
from cove.engine.build_run import MOUNT_POINTS, mount_targets, run_in_sandbox
from cove.engine.store import Store
from cove.errors import CoveError, ImageNotFound, InvalidArgument, Unavailable
from cove.host.guard import Action, Guard, Remove, RunProgram, Unmount
from cove.host.inroot import Root
from cove.host.seam import Host
from cove.host.trees import remove_quietly
from cove.images import diff as snapshot_diff
from cove.images.unpack import whiteout_mode
from cove.oci import mediatypes as mt
from cove.oci.digest import chain_ids
from cove.oci.image import Descriptor
from cove.oci.mount import Mount
from cove.runtime.oci import OciRuntime
from cove.snapshots.usage import disk_usage

BUILD_PREFIX = "build-"
DOWNLOAD_TIMEOUT = 60

# Pulls a base image: (name, platform), with the request's registry credentials bound in.
BasePuller = Callable[[str, str], None]


class WorkArea:
    """Directories under ``build/work`` and the mounts made in them, each armed on the guard
    for as long as it exists: undone by the guard should this process be killed."""

    def __init__(self, root: Path, guard: Guard, host: Host) -> None:
        self.root = root
        self.guard = guard
        self.host = host

    @contextlib.contextmanager
    def directory(self, prefix: str = BUILD_PREFIX) -> Iterator[tuple[str, Path]]:
        name = prefix + secrets.token_hex(8)
        directory = self.root / name
        token = self.guard.arm([Remove(str(directory))])
        directory.mkdir(parents=True)
        try:
            yield name, directory
        finally:
            # What cannot go now, the store's cleanup retries and reports; never while anything
            # is still mounted under it (a removal must not reach into a mount).
            with contextlib.suppress(OSError, CoveError):
                self.host.unmount_all_under(directory)
                remove_quietly(directory)
            self.guard.disarm(token)

    @contextlib.contextmanager
    def mounted(self, mounts: Sequence[Mount], target: Path, *undo: Action) -> Iterator[None]:
        """``mounts`` on ``target`` for the block's time, and (``undo``) what the block sets up
        there: undone by the guard, should this process die before the block ends."""
        token = self.guard.arm([*undo, Unmount(str(target))])
        try:
            self.host.mount_all(mounts, target)
            yield
        finally:
            try:
                self.host.unmount(target, lazy=True)
            finally:
                self.guard.disarm(token)


class LocalBuildBackend:
    """The executor's backend for one build request, on the local store and OCI runtime."""

    def __init__(
        self,
        store: Store,
        cache: BuildCache,
        work: WorkArea,
        cache_mounts: Path,
        runtime: Callable[[], OciRuntime],
        pull: BasePuller,
    ) -> None:
        self.store = store
        self.cache = cache
        self._work = work
        self._cache_mounts = cache_mounts
        self._runtime = runtime
        self._pull = pull

    def base_image(self, name: str, platform: str, pull: bool) -> BaseImage:
        images = self.store.images
        record = None
        if not pull:
            with contextlib.suppress(ImageNotFound):
                record = images.resolve(name)
        if record is None:
            try:
                self._pull(name, platform)
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
    def rootfs(self, layers: Sequence[Layer]) -> Iterator[Path]:
        with self._work.directory() as (_, directory):
            target = directory / "rootfs"
            target.mkdir()
            chain = self._chain(layers)
            if chain is None:
                yield target
                return
            with self._work.mounted(self.store.snapshotter.mounts(chain), target):
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

    def run(
        self, layers: Sequence[Layer], request: RunRequest, output: Callable[[bytes], None]
    ) -> Layer | None:
        snapshotter = self.store.snapshotter
        parent = self._chain(layers)
        with self._work.directory() as (name, directory):
            mounts = snapshotter.prepare(name, parent)
            committed = False
            try:
                rootfs = directory / "rootfs"
                rootfs.mkdir()
                runtime = self._runtime()
                # (the runtime, started in the foreground, dies with this process; its container
                # would not: the guard deletes it, which kills what runs in it)
                with self._work.mounted(
                    mounts, rootfs, RunProgram(tuple(runtime.argv("delete", "--force", name)))
                ):
                    code = run_in_sandbox(
                        self.store.host, runtime, name, directory, rootfs, request, output, self._cache_mounts
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

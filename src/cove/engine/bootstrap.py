"""Opening an engine: the one place that picks implementations (snapshotter, runner, host,
registry transport)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cove.config import EngineConfig
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.store import CleanupProblem, Store
from cove.errors import FailedPrecondition, PermissionDenied
from cove.host.flush import Flusher
from cove.host.overlay import probe_overlay
from cove.host.runner import Runner, SubprocessRunner
from cove.host.seam import Host, LinuxHost
from cove.host.trees import OnFailure
from cove.images.store import ImageStore
from cove.snapshots.base import SnapshotDirectories, has_snapshots
from cove.snapshots.copy import CopySnapshotter
from cove.snapshots.overlay import OverlaySnapshotter
from cove.snapshots.snapshotter import COPY, OVERLAY, Snapshotter
from cove.volumes.store import VolumeStore

if TYPE_CHECKING:
    from cove.engine.build import BuildService
    from cove.engine.container_io import ContainerIO
    from cove.engine.containers import ContainerService
    from cove.engine.containers.monitors import Monitors
    from cove.engine.images import ImageService
    from cove.engine.networks import NetworkService
    from cove.engine.registries import RegistryService
    from cove.engine.system import SystemService
    from cove.engine.volumes import VolumeService

DRIVER_KEY = "storage_driver"
DRIVER_REASON_KEY = "storage_driver_reason"
SNAPSHOTTERS: dict[str, type[SnapshotDirectories]] = {
    OVERLAY: OverlaySnapshotter,
    COPY: CopySnapshotter,
}


class Engine:
    """The services of one store, each built (and its code imported) on first use, so a
    command pays only for what it touches: `cove run` never loads the image archive code."""

    def __init__(self, store: Store, volumes: VolumeStore, monitors: Monitors | None = None) -> None:
        self.store = store
        self.volume_store = volumes
        self._monitors = monitors  # None: the real ones

    @cached_property
    def containers(self) -> ContainerService:
        from cove.engine.containers import ContainerService

        return ContainerService(self.store, self.volume_store, self._monitors)

    @cached_property
    def images(self) -> ImageService:
        from cove.engine.images import ImageService

        # A lambda, so that listing images does not load the container service.
        return ImageService(self.store, lambda cid: self.containers.state(cid).running)

    @cached_property
    def volumes(self) -> VolumeService:
        from cove.engine.volumes import VolumeService

        return VolumeService(self.volume_store)

    @cached_property
    def registries(self) -> RegistryService:
        from cove.engine.registries import RegistryService
        from cove.registry.transport import HttpTransport

        return RegistryService(self.store, HttpTransport)

    @property
    def networks(self) -> NetworkService:
        return self.containers.networks

    @cached_property
    def system(self) -> SystemService:
        from cove.engine.system import SystemService

        return SystemService(
            self.store,
            self.images,
            self.networks,
            lambda: self.build,
            lambda: self.containers,
            self.volumes,
        )

    @cached_property
    def build(self) -> BuildService:
        from cove.config import docker_config_dir
        from cove.engine.build import BuildService

        def pull(name: str, platform: str, docker_config: Path | None) -> None:
            self.registries.pull(
                name, docker_config=docker_config or docker_config_dir(os.environ), platform=platform
            )

        return BuildService(self.store, pull)

    @cached_property
    def container_io(self) -> ContainerIO:
        from cove.engine.container_io import ContainerIO

        return ContainerIO(self.containers)

    def cleanup_problems(self) -> list[CleanupProblem]:
        """Leftovers the store's cleanup could not remove, each handed out once (and again
        by a later command only when it comes back after a cleanup without it)."""
        return self.store.take_problems()

    def close(self) -> None:
        if "registries" in self.__dict__:
            self.registries.close()
        if "build" in self.__dict__:
            self.build.close()
        self.store.close()


def _choose_driver(config: EngineConfig, db: Database) -> tuple[str, str]:
    recorded = db.get_meta(DRIVER_KEY)
    wanted = config.storage_driver
    if recorded is not None:
        reason = db.get_meta(DRIVER_REASON_KEY) or ""
        if wanted in ("auto", recorded):
            return recorded, reason
        if has_snapshots(db):
            raise FailedPrecondition(
                f"the store at {config.root} uses the {recorded} storage driver, not {wanted}",
                hint="use another COVE_ROOT for another driver, or `cove system prune -a` to empty this one",
            )
    if wanted == "auto":
        works, reason = probe_overlay(config.root / "tmp")
        driver = OVERLAY if works else COPY
    else:
        driver, reason = wanted, "chosen in the configuration"
    db.set_meta(DRIVER_KEY, driver)
    db.set_meta(DRIVER_REASON_KEY, reason)
    return driver, reason


def _build_cache_roots(store: Store) -> tuple[set[str], set[str]]:
    from cove.build.cachestore import BuildCache  # only when garbage is collected

    return BuildCache(store.db).roots()


def _clean_build_leftovers(store: Store, failed: OnFailure) -> None:
    work = store.root / "build" / "work"
    if (work.exists() and any(work.iterdir())) or store.snapshotter.writable_keys("build-"):
        from cove.engine.build import clean_leftovers

        clean_leftovers(store, failed)


def open_engine(config: EngineConfig, *, runner: Runner | None = None, host: Host | None = None) -> Engine:
    if os.geteuid() != 0:
        raise PermissionDenied(
            "cove needs root to manage images and containers", hint="run it as root (e.g. with sudo)"
        )
    config.root.mkdir(parents=True, exist_ok=True, mode=0o711)
    db = Database(config.root / "cove.db")
    try:
        driver, reason = _choose_driver(config, db)
        runner, host = runner or SubprocessRunner(), host or LinuxHost()
        engine = assemble(config, db, driver=driver, reason=reason, runner=runner, host=host)
        # Whatever a killed cove left behind goes now, if no other cove is at work.
        engine.store.tidy()
    except BaseException:
        db.close()
        raise
    return engine


def assemble(
    config: EngineConfig,
    db: Database,
    *,
    driver: str,
    runner: Runner,
    host: Host,
    reason: str = "",
    snapshot_runner: Runner | None = None,
    monitors: Monitors | None = None,
) -> Engine:
    """An engine from the implementations given, with no check of who runs it and no cleanup:
    what :func:`open_engine` builds on, and what unit tests build with fakes (a recording host
    and runner, a stand-in for the monitors; the snapshots' own ``cp`` may stay real)."""
    flush = Flusher()
    content = ContentStore(config.root / "content", flush)
    snapshotter: Snapshotter = SNAPSHOTTERS[driver](
        config.root / "snapshots", db, snapshot_runner or runner, flush
    )
    images = ImageStore(db, content)
    store = Store(config, config.root, db, content, snapshotter, images, runner, reason, host)
    volumes = VolumeStore(config.root / "volumes", db)
    engine = Engine(store, volumes, monitors)
    store.cleaners.append(volumes.clean_leftovers)
    store.cleaners.append(lambda failed: _clean_build_leftovers(store, failed))
    store.gc_roots.append(lambda: _build_cache_roots(store))
    return engine

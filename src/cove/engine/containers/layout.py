"""Where a container's things are (its directory, rootfs, socket, log, runtime state) and how a
container is looked up: what every verb of the container service shares."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.containers.state import ContainerState, read_state
from cove.containers.store import ContainerRecord, ContainerStore
from cove.content.store import BlobNotFound
from cove.engine.containers.model import Container
from cove.engine.containers.monitors import MonitorClient, Monitors
from cove.engine.store import Store
from cove.errors import CoveError, FailedPrecondition, ImageNotFound
from cove.host.locks import FileLock
from cove.volumes.store import VolumeStore

if TYPE_CHECKING:
    from cove.engine.networks import NetworkService
    from cove.runtime.oci import OciRuntime

SOCKET_PATH_MAX = 107


class ContainerLayout:
    def __init__(self, store: Store, volumes: VolumeStore, monitors: Monitors | None = None) -> None:
        self.store = store
        self.host = store.host
        self.monitors: Monitors = monitors or MonitorClient()
        self.records = ContainerStore(store.db)
        self.volumes = volumes
        self.containers_dir = store.root / "containers"
        self.run_dir = store.config.runtime_dir

    @cached_property
    def networks(self) -> NetworkService:
        from cove.engine.networks import NetworkService

        return NetworkService(self.store, self.name_of)

    def name_of(self, cid: str) -> str:
        try:
            return self.records.get(cid).name
        except CoveError:
            return cid[:12]

    # -- places ------------------------------------------------------------------------

    def dir(self, cid: str) -> Path:
        return self.containers_dir / cid

    def rootfs(self, cid: str) -> Path:
        return self.dir(cid) / "bundle" / "rootfs"

    def socket(self, cid: str) -> Path:
        return self.run_dir / "s" / cid[:16]

    def log_path(self, cid: str) -> Path:
        return self.dir(cid) / f"{cid}-json.log"

    def runtime_of(self, record: ContainerRecord) -> OciRuntime:
        from cove.runtime.oci import OciRuntime, RuntimeInfo  # (when a runtime is called)

        info = RuntimeInfo(**json.loads(record.runtime))
        return OciRuntime(info, self.run_dir / "runtime" / info.name, self.store.runner)

    def store_env(self) -> dict[str, str]:
        """The environment that names this very store to a `cove` run from the monitor."""
        config = self.store.config
        env = {"COVE_ROOT": str(config.root), "COVE_RUNTIME_DIR": str(config.runtime_dir)}
        if config.config_file is not None:
            env["COVE_CONFIG"] = str(config.config_file)
        if config.runtime:
            env["COVE_RUNTIME"] = config.runtime
        return env

    def known_caps(self) -> tuple[str, ...]:
        """The capabilities a container may be given here (the kernel's, within cove's own)."""
        from cove.runtime import caps as capabilities  # (when a container is made)

        return capabilities.host_caps(*self.host.capability_sets())

    def ops_lock(self, cid: str) -> FileLock:
        return FileLock(self.dir(cid) / "ops.lock")

    # -- looking up ----------------------------------------------------------------------

    def state(self, cid: str) -> ContainerState:
        """The container's state as it really is (the one reader, containers.state)."""
        return read_state(self.dir(cid), self.store.host)

    def get(self, ref: str) -> Container:
        record = self.records.resolve(ref)
        return Container(record, self.state(record.id))

    def all(self) -> list[Container]:
        return [Container(r, self.state(r.id)) for r in self.records.all()]

    def image_config(self, record: ContainerRecord) -> dict[str, Any] | None:
        """The settings (Cmd, Env, ...) of the image the container was made from: kept in its
        record, else read from the image; None when they are unknown (a record from before
        they were kept, whose image was removed since). A damaged image still raises."""
        if record.config.image_defaults:
            return record.config.image_defaults
        try:
            image = self.store.images.get(record.image_id)
            config: dict[str, Any] = self.store.images.config(image).config
            return config
        except (ImageNotFound, BlobNotFound):
            return None

    def required_image_config(self, record: ContainerRecord) -> dict[str, Any]:
        """:meth:`image_config`, for what cannot go on without it (a start)."""
        config = self.image_config(record)
        if config is None:
            raise FailedPrecondition(
                f"the image of container {record.name} ({record.image_ref}) was removed, and its "
                "record, made by an older cove, does not keep the image's settings",
                hint=f"create the container again: cove rm {record.name}, then cove run",
            )
        return config

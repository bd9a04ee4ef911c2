"""``ContainerService``: the one object front-ends use, composed of one object per verb (youki's
one file per command): each verb lives in its own module of this package, and this facade only
wires them together and hands each call on."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.containers.model import ContainerConfig, PullPolicy
from cove.engine.containers.layout import ContainerLayout

if TYPE_CHECKING:
    from cove.containers.state import ContainerState
    from cove.containers.store import ContainerRecord
    from cove.engine.attach import AttachStream
    from cove.engine.container_types import ContainerDetails, ContainerSize
    from cove.engine.containers.connect import Connector
    from cove.engine.containers.create import Creator
    from cove.engine.containers.details import Inspector
    from cove.engine.containers.lifecycle import Lifecycle
    from cove.engine.containers.model import Container
    from cove.engine.containers.monitors import Monitors
    from cove.engine.containers.remove import Remover
    from cove.engine.containers.rename import Renamer
    from cove.engine.containers.start import Starter
    from cove.engine.networks import Binding, NetworkService
    from cove.engine.store import Store
    from cove.engine.types import PruneReport
    from cove.runtime.oci import OciRuntime
    from cove.volumes.store import VolumeStore


class ContainerService:
    def __init__(self, store: Store, volumes: VolumeStore, monitors: Monitors | None = None) -> None:
        self.layout = ContainerLayout(store, volumes, monitors)
        self.store = store
        self.records = self.layout.records
        self.volumes = volumes
        self.containers_dir = self.layout.containers_dir
        self.run_dir = self.layout.run_dir

    # Each verb's object (and its module's imports: the runtime, the monitor's protocol, spec
    # building) is made on first use: `cove ps` should not load what `cove run` needs.

    @cached_property
    def inspector(self) -> Inspector:
        from cove.engine.containers.details import Inspector

        return Inspector(self.layout)

    @cached_property
    def creator(self) -> Creator:
        from cove.engine.containers.create import Creator

        return Creator(self.layout)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        from cove.engine.containers.lifecycle import Lifecycle

        return Lifecycle(self.layout, start=self.start)

    @cached_property
    def remover(self) -> Remover:
        from cove.engine.containers.remove import Remover

        return Remover(self.layout, self.lifecycle)

    @cached_property
    def starter(self) -> Starter:
        from cove.engine.containers.start import Starter

        return Starter(
            self.layout, self.lifecycle, remove=lambda cid: self.remove(cid, force=True, volumes=True)
        )

    @cached_property
    def connector(self) -> Connector:
        from cove.engine.containers.connect import Connector

        return Connector(self.layout)

    @cached_property
    def renamer(self) -> Renamer:
        from cove.engine.containers.rename import Renamer

        return Renamer(self.layout)

    @property
    def networks(self) -> NetworkService:
        return self.layout.networks

    # -- places ------------------------------------------------------------------------

    def dir(self, cid: str) -> Path:
        return self.layout.dir(cid)

    def rootfs(self, cid: str) -> Path:
        return self.layout.rootfs(cid)

    def socket(self, cid: str) -> Path:
        return self.layout.socket(cid)

    def log_path(self, cid: str) -> Path:
        return self.layout.log_path(cid)

    def runtime_of(self, record: ContainerRecord) -> OciRuntime:
        return self.layout.runtime_of(record)

    # -- looking up ----------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.layout.get(ref)

    def state(self, cid: str) -> ContainerState:
        return self.layout.state(cid)

    def all(self) -> list[Container]:
        return self.layout.all()

    def image_config(self, record: ContainerRecord) -> dict[str, Any] | None:
        return self.layout.image_config(record)

    def list_containers(
        self, *, all: bool = False, filters: dict[str, list[str]] | None = None, last: int | None = None
    ) -> list[Container]:
        return self.inspector.list_containers(all=all, filters=filters, last=last)

    def details(self, ref: str) -> ContainerDetails:
        return self.inspector.details(ref)

    def size(self, record: ContainerRecord) -> ContainerSize:
        return self.inspector.size(record)

    def command_line(self, record: ContainerRecord, image_config: dict[str, Any] | None = None) -> list[str]:
        return self.inspector.command_line(record, image_config)

    # -- create and start --------------------------------------------------------------

    def create(
        self, config: ContainerConfig, name: str | None = None, *, pull: PullPolicy | str = PullPolicy.MISSING
    ) -> ContainerRecord:
        return self.creator.create(config, name, pull=pull)

    def start(
        self, ref: str, *, hold_output: bool = False, tty_size: tuple[int, int] | None = None
    ) -> Container:
        return self.starter.start(ref, hold_output=hold_output, tty_size=tty_size)

    def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool = True,
        stderr: bool = True,
        tty_size: tuple[int, int] | None = None,
        remove: bool = False,
    ) -> AttachStream:
        from cove.engine.attach import AttachStream

        return AttachStream(
            self.starter.attach(
                ref, stdin=stdin, stdout=stdout, stderr=stderr, tty_size=tty_size, remove=remove
            )
        )

    # -- stop, kill, restart, wait, pause ------------------------------------------------

    def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> Container:
        return self.lifecycle.stop(ref, timeout=timeout, signal_name=signal_name)

    def settle(self, cid: str, status: ContainerState | None = None) -> None:
        self.lifecycle.settle(cid, status)

    def kill(self, ref: str, signal_name: str = "SIGKILL") -> Container:
        return self.lifecycle.kill(ref, signal_name)

    def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        return self.lifecycle.restart(ref, timeout=timeout)

    def wait(self, ref: str, *, unsupervised: bool = True) -> int:
        return self.lifecycle.wait(ref, unsupervised=unsupervised)

    def pause(self, ref: str) -> None:
        self.lifecycle.pause(ref)

    def unpause(self, ref: str) -> None:
        self.lifecycle.unpause(ref)

    # -- names and networks --------------------------------------------------------------

    def rename(self, ref: str, new_name: str) -> None:
        self.renamer.rename(ref, new_name)

    def ports(self, ref: str) -> list[Binding]:
        return self.connector.ports(ref)

    def connect(
        self, network: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None
    ) -> None:
        self.connector.connect(network, ref, aliases=aliases, ip=ip)

    def disconnect(self, network: str, ref: str) -> None:
        self.connector.disconnect(network, ref)

    # -- remove and prune ----------------------------------------------------------------

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> str:
        return self.remover.remove(ref, force=force, volumes=volumes)

    def prune(self) -> PruneReport:
        return self.remover.prune()

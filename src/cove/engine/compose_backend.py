"""The local engine as compose's backend (``cove.compose.backend.EngineBackend``): each method
hands one compose verb to the engine's services in this process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from cove.errors import ImageNotFound

if TYPE_CHECKING:
    from cove.engine.bootstrap import Engine
    from cove.engine.containers.model import Container
    from cove.engine.networks import NetworkRecord
    from cove.engine.requests import ContainerConfig, PullPolicy
    from cove.engine.volumes import Volume

Filters = Mapping[str, list[str]]


class LocalBackend:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- containers ------------------------------------------------------------------------

    def list_containers(self, filters: Filters, *, all: bool = True) -> list[Container]:
        return self.engine.containers.list_containers(all=all, filters=dict(filters))

    def get_container(self, ref: str) -> Container:
        return self.engine.containers.get(ref)

    def create_container(self, config: ContainerConfig, name: str, *, pull: PullPolicy) -> Container:
        record = self.engine.containers.create(config, name, pull=pull)
        return self.engine.containers.get(record.id)

    def start_container(self, ref: str) -> Container:
        return self.engine.containers.start(ref)

    def stop_container(self, ref: str, *, timeout: int | None = None) -> Container:
        return self.engine.containers.stop(ref, timeout=timeout)

    def kill_container(self, ref: str, signal_name: str = "SIGKILL") -> Container:
        return self.engine.containers.kill(ref, signal_name)

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        self.engine.containers.remove(ref, force=force, volumes=volumes)

    def connect_container(
        self, network: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None
    ) -> None:
        self.engine.containers.connect(network, ref, aliases=aliases, ip=ip)

    # -- networks and volumes --------------------------------------------------------------

    def list_networks(self, filters: Filters) -> list[NetworkRecord]:
        return self.engine.networks.list_networks(filters)

    def get_network(self, ref: str) -> NetworkRecord:
        return self.engine.networks.get(ref)

    def create_network(
        self,
        name: str,
        *,
        driver: str = "bridge",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
    ) -> NetworkRecord:
        return self.engine.networks.create(
            name, driver=driver, internal=internal, labels=labels, options=options,
            subnet=subnet, gateway=gateway, ip_range=ip_range,
        )  # fmt: skip

    def remove_network(self, ref: str) -> None:
        self.engine.networks.remove(ref)

    def list_volumes(self, filters: Filters) -> list[Volume]:
        return self.engine.volumes.list_volumes(filters)

    def get_volume(self, name: str) -> Volume:
        return self.engine.volumes.get(name)

    def create_volume(
        self,
        name: str,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        return self.engine.volumes.create(name, driver=driver, labels=labels, options=options)

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        self.engine.volumes.remove(name, force=force)

    # -- images ----------------------------------------------------------------------------

    def image_id(self, name: str) -> str | None:
        try:
            return str(self.engine.images.images.resolve(name).id)
        except ImageNotFound:
            return None

    # -- output ----------------------------------------------------------------------------

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[tuple[str, float, str]]:
        from cove.oci.timestamps import timestamp

        for entry in self.engine.container_io.logs(ref, follow=follow, tail=tail, since=since, until=until):
            yield entry.stream, timestamp(entry.time), entry.text

    # -- the lifecycle verbs up and down need beyond these (restart, pause, wait...) ---------

    # -- exec, copying files, processes and ports (the commands on running containers) -------

    def copy_to_container(self, ref: str, path: str, archive: BinaryIO) -> None:
        self.engine.container_io.copy_to(ref, path, archive)

    def run_in_container(
        self,
        ref: str,
        argv: list[str],
        *,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        stdout: int = 1,
        stderr: int = 2,
    ) -> int:
        session = self.engine.container_io.exec(
            ref,
            argv,
            env=env,
            user=user,
            workdir=workdir,
            privileged=privileged,
            stdout=stdout,
            stderr=stderr,
        )
        assert session is not None  # not detached
        return session.wait()

    # -- images: build, pull, push, remove --------------------------------------------------

    # -- secrets and configs: files put into a created container --------------------------------

"""The local engine as compose's backend (``cove.compose.backend.EngineBackend``): each method
hands one compose verb to the engine's services in this process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cove.errors import ImageNotFound

if TYPE_CHECKING:
    from cove.engine.attach import AttachStream
    from cove.engine.bootstrap import Engine
    from cove.engine.build import BuildEvent
    from cove.engine.container_types import ContainerDetails
    from cove.engine.containers.model import Container
    from cove.engine.networks import NetworkRecord
    from cove.engine.requests import Binding, ContainerConfig, PullPolicy
    from cove.engine.types import ImageDetails, ImageSummary
    from cove.engine.volumes import Volume
    from cove.progress import Progress

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

    def restart_container(self, ref: str, *, timeout: int | None = None) -> Container:
        return self.engine.containers.restart(ref, timeout=timeout)

    def pause_container(self, ref: str) -> None:
        self.engine.containers.pause(ref)

    def unpause_container(self, ref: str) -> None:
        self.engine.containers.unpause(ref)

    def project_lock(self, project: str) -> AbstractContextManager[None]:
        import re

        from cove.host.locks import FileLock

        # (a flock: released by the kernel if cove dies, kill -9 included; a project's name is
        # Docker Compose's [a-z0-9][a-z0-9_-]*, a safe file name, which is checked all the same)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project):
            raise ValueError(f"invalid project name: {project!r}")
        return FileLock(self.engine.store.root / "locks" / f"compose-{project}.lock").exclusive()

    # -- exec, copying files, processes and ports (the commands on running containers) -------

    def exec_process(
        self,
        ref: str,
        argv: list[str],
        *,
        tty: bool = False,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        detach: bool = False,
        stdin: int | None = None,
        stdout: int = 1,
        stderr: int = 2,
    ) -> int | None:
        session = self.engine.container_io.exec(
            ref, argv, tty=tty, env=env, user=user, workdir=workdir, privileged=privileged,
            detach=detach, stdin=stdin, stdout=stdout, stderr=stderr,
        )  # fmt: skip
        return None if session is None else session.wait()

    def start_attachable(self, ref: str, *, tty_size: tuple[int, int] | None = None) -> Container:
        return self.engine.containers.start(ref, hold_output=True, tty_size=tty_size)

    def attach(
        self, ref: str, *, stdin: bool, tty_size: tuple[int, int] | None = None, remove: bool = False
    ) -> AttachStream:
        return self.engine.containers.attach(ref, stdin=stdin, tty_size=tty_size, remove=remove)

    def wait_container(self, ref: str) -> int:
        return self.engine.containers.wait(ref)

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        return self.engine.container_io.top(ref, ps_args)

    def copy_in(self, ref: str, source: Path, path: str) -> None:
        self.engine.container_io.copy_in(ref, source, path)

    def copy_out(self, ref: str, path: str, dest: Path, *, follow: bool = False) -> None:
        self.engine.container_io.copy_out(ref, path, dest, follow=follow)

    def copy_to(self, ref: str, path: str, archive: BinaryIO) -> None:
        self.engine.container_io.copy_to(ref, path, archive)

    def copy_from(self, ref: str, path: str, out: BinaryIO, *, follow: bool = False) -> None:
        self.engine.container_io.copy_from(ref, path, out, follow=follow)

    def published_ports(self, ref: str) -> list[Binding]:
        return self.engine.containers.ports(ref)

    def container_details(self, ref: str) -> ContainerDetails:
        return self.engine.containers.details(ref)

    # -- images: build, pull, push, remove --------------------------------------------------
    # Logins are the user's, from DOCKER_CONFIG or ~/.docker, as `cove pull` reads them.

    def inspect_image(self, name: str) -> ImageDetails:
        return self.engine.images.inspect(name)

    def pull_image(self, name: str, *, platform: str | None = None, progress: Progress | None = None) -> str:
        from cove.config import docker_config_dir
        from cove.progress import no_progress

        [result] = self.engine.registries.pull(
            name,
            docker_config=docker_config_dir(os.environ),
            platform=platform,
            progress=progress or no_progress,
        )
        return str(result.image_id)

    def push_image(self, name: str, *, progress: Progress | None = None) -> None:
        from cove.config import docker_config_dir
        from cove.progress import no_progress

        self.engine.registries.push(
            name, docker_config=docker_config_dir(os.environ), progress=progress or no_progress
        )

    def build_image(
        self,
        context: Path,
        *,
        dockerfile: str | None = None,
        dockerfile_text: str | None = None,
        tags: list[str],
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        secrets: Mapping[str, Path] | None = None,
        no_cache: bool = False,
        pull: bool = False,
        network: str | None = None,
        platform: str | None = None,
        report: Callable[[BuildEvent], None] | None = None,
    ) -> str:
        from cove.config import docker_config_dir
        from cove.engine.build import BuildRequest, find_ignore_file
        from cove.engine.build_context import resolve_context

        build = self.engine.build
        if dockerfile is not None and not os.path.isabs(dockerfile):
            dockerfile = str(Path(context, dockerfile))
        with resolve_context(
            build, str(context), dockerfile=dockerfile, dockerfile_text=dockerfile_text
        ) as resolved:
            request = BuildRequest(
                dockerfile=resolved.dockerfile,
                context=resolved.root,
                ignore_file=find_ignore_file(resolved.dockerfile_path),
                tags=list(tags),
                build_args=dict(build_args or {}),
                target=target,
                no_cache=no_cache,
                pull=pull,
                labels=dict(labels or {}),
                platform=platform,
                network=network or "default",
                secrets=dict(secrets or {}),
                docker_config=docker_config_dir(os.environ),
            )
            result = build.build(request, report or (lambda event: None))
        return result.image_id

    def remove_image(self, name: str, *, force: bool = False) -> None:
        [result] = self.engine.images.remove([name], force=force)
        if result.error is not None:
            raise result.error

    def list_images(self, filters: Filters) -> list[ImageSummary]:
        return self.engine.images.list_images(filters=dict(filters))

    # -- secrets and configs: files put into a created container --------------------------------

    def inject_archive(self, ref: str, archive: BinaryIO) -> None:
        self.engine.container_io.copy_to(ref, "/", archive)

"""What compose needs of an engine: the backend protocol (DESIGN.md, data flow 3).

Compose plans and runs projects through this protocol only, never through the engine's
services directly, so that the local engine (``cove.engine.compose_backend.LocalBackend``)
and, later, a remote one over the Docker Engine API both satisfy it. Its values are the
engine's request and result types (``cove.engine.requests``, ``Container``, ``Volume``...),
which a remote implementation builds from the API's JSON.

Each method is one engine verb; nothing here knows about services or projects, which are
compose's own (labels, names: ``cove.compose.names``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from cove.engine.attach import AttachStream
    from cove.engine.build import BuildEvent
    from cove.engine.container_types import ContainerDetails
    from cove.engine.containers.model import Container
    from cove.engine.networks import NetworkRecord
    from cove.engine.requests import Binding, ContainerConfig, PullPolicy
    from cove.engine.types import ImageDetails, ImageSummary
    from cove.engine.volumes import Volume
    from cove.progress import Progress

Filters = Mapping[str, list[str]]


class EngineBackend(Protocol):
    # -- containers ------------------------------------------------------------------------

    def list_containers(self, filters: Filters, *, all: bool = True) -> list[Container]:
        """The containers matching Docker's list filters (``label=K=V``...), stopped ones too
        when ``all``."""
        ...

    def get_container(self, ref: str) -> Container:
        """One container by ID or name, with its current state (NotFound when there is none)."""
        ...

    def create_container(self, config: ContainerConfig, name: str, *, pull: PullPolicy) -> Container:
        """A new container (the image pulled first as ``pull`` says)."""
        ...

    def start_container(self, ref: str) -> Container: ...

    def stop_container(self, ref: str, *, timeout: int | None = None) -> Container: ...

    def kill_container(self, ref: str, signal_name: str = "SIGKILL") -> Container: ...

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...

    def connect_container(
        self, network: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None
    ) -> None:
        """Attach a created container to one more network (its first comes with its config)."""
        ...

    # -- networks and volumes --------------------------------------------------------------

    def list_networks(self, filters: Filters) -> list[NetworkRecord]: ...

    def get_network(self, ref: str) -> NetworkRecord: ...

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
    ) -> NetworkRecord: ...

    def remove_network(self, ref: str) -> None: ...

    def list_volumes(self, filters: Filters) -> list[Volume]: ...

    def get_volume(self, name: str) -> Volume: ...

    def create_volume(
        self,
        name: str,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume: ...

    def remove_volume(self, name: str, *, force: bool = False) -> None: ...

    # -- images ----------------------------------------------------------------------------

    def image_id(self, name: str) -> str | None:
        """The local image's ID, None when the engine has no image of that name."""
        ...

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
        """The container's log as (stream name, Unix time, text) triples, following while it runs."""
        ...

    # -- the lifecycle verbs up and down need beyond these (restart, pause, wait...) ---------

    def restart_container(self, ref: str, *, timeout: int | None = None) -> Container: ...

    def pause_container(self, ref: str) -> None: ...

    def unpause_container(self, ref: str) -> None: ...

    def project_lock(self, project: str) -> AbstractContextManager[None]:
        """Held while ``up`` or ``down`` changes the project, so that two at once do not both
        create its containers (the second waits, then finds the first's work done)."""
        ...

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
        """Run ``argv`` in the running container with these file descriptors as its stdio (a
        terminal's when ``tty``), and wait for its exit code; None when ``detach``."""
        ...

    def start_attachable(self, ref: str, *, tty_size: tuple[int, int] | None = None) -> Container:
        """Start a container whose output is held until a client attaches (``run``)."""
        ...

    def attach(
        self, ref: str, *, stdin: bool, tty_size: tuple[int, int] | None = None, remove: bool = False
    ) -> AttachStream:
        """The container's stdio as a stream (``remove``: the engine removes it when it ends)."""
        ...

    def wait_container(self, ref: str) -> int:
        """Block until the container stops: its exit code."""
        ...

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """The running container's processes: ``ps``'s titles and rows."""
        ...

    def copy_in(self, ref: str, source: Path, path: str) -> None:
        """Copy a host file or directory into the container (docker cp semantics)."""
        ...

    def copy_out(self, ref: str, path: str, dest: Path, *, follow: bool = False) -> None: ...

    def copy_to(self, ref: str, path: str, archive: BinaryIO) -> None:
        """Unpack a tar stream into the container's ``path``."""
        ...

    def copy_from(self, ref: str, path: str, out: BinaryIO, *, follow: bool = False) -> None:
        """Write the container's ``path`` as a tar stream."""
        ...

    def published_ports(self, ref: str) -> list[Binding]:
        """The running container's published ports (none once it stopped)."""
        ...

    def container_details(self, ref: str) -> ContainerDetails:
        """What inspect shows: the command, mounts, networks and ports among it."""
        ...

    # -- images: build, pull, push, remove --------------------------------------------------

    def inspect_image(self, name: str) -> ImageDetails:
        """The local image (its labels in ``config``; ``tagged``: when its name last moved to it,
        else None), ImageNotFound when there is none."""
        ...

    def pull_image(self, name: str, *, platform: str | None = None, progress: Progress | None = None) -> str:
        """Pull with the user's registry logins; the image's ID."""
        ...

    def push_image(self, name: str, *, progress: Progress | None = None) -> None: ...

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
        """Build from a context directory (``dockerfile``: a path relative to it, or absolute;
        ``dockerfile_text``: the Dockerfile itself) and name the image ``tags``; its ID."""
        ...

    def remove_image(self, name: str, *, force: bool = False) -> None: ...

    def list_images(self, filters: Filters) -> list[ImageSummary]:
        """The local images matching Docker's image list filters (``label=K=V``, ``dangling``...)."""
        ...

    # -- secrets and configs: files put into a created container --------------------------------

    def inject_archive(self, ref: str, archive: BinaryIO) -> None:
        """Unpack a tar at the root of a container (created or running), every path resolved
        inside it, owners and modes as the tar's headers give them."""
        ...

"""``compose run``: a one-off container of a service, ``<project>-<service>-run-<12 hex>``, with
the label ``com.docker.compose.oneoff=True`` and the command line's overrides.

Docker Compose's rules: the service's container as ``up`` would make it, then the command,
entrypoint, user, working directory, environment, labels, volumes and terminal of the command
line; no restart policy; the service's published ports only with ``--service-ports`` (or
those ``-p`` gives); the container is never scaled or recreated by ``up`` (the one-off label
keeps it out of the service's containers).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cove.compose import names
from cove.compose.convert import ServiceContainer, service_container
from cove.compose.convert_mounts import MountsOf
from cove.compose.errors import ComposeError
from cove.compose.model import Condition, Dependency
from cove.compose.progress import Event, Kind, Phase, Report
from cove.compose.state import Observed
from cove.engine.container_types import HealthStatus, Status
from cove.engine.requests import VOLUME, MountSpec, PortSpec, RestartPolicy

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.compose.model import Project, Service

SLUG = names.PREFIX + "slug"


@dataclass(frozen=True)
class RunOptions:
    """What the command line changes of the service's container."""

    command: tuple[str, ...] | None = None  # None: the service's
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()  # KEY=VALUE (KEY alone: unset in the container's)
    volumes: tuple[MountSpec, ...] = ()
    publish: tuple[PortSpec, ...] = ()
    service_ports: bool = False
    user: str | None = None
    workdir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    tty: bool = False
    stdin: bool = False
    remove: bool = False
    use_aliases: bool = False  # --use-aliases: the networks know it by its service's name too


def new_slug() -> str:
    """Docker Compose's one-off slug: 64 random hex digits (12 of them name the container)."""
    return secrets.token_hex(32)


def oneoff_container(
    project: Project,
    service: Service,
    options: RunOptions,
    slug: str,
    *,
    image: str | None = None,
    mounts_of: MountsOf | None = None,
) -> ServiceContainer:
    """The one-off container to create (pure, but for ``mounts_of``: another container's
    mounts, for ``volumes_from``); ``image``: the image to run when not the service's."""
    if options.service_ports and options.publish:
        raise ComposeError("--service-ports and --publish are incompatible")
    base = service_container(
        project,
        service,
        1,
        image=image,
        oneoff=True,
        slug=slug[:12],
        extra_labels={SLUG: slug, **options.labels},
        mounts_of=mounts_of,
        use_aliases=options.use_aliases,
        container_name=options.name,
    )
    config = base.config
    env = _merged_env(config.env, options.env)
    # Mounts named again on the command line replace the service's at the same target.
    targets = {m.target for m in options.volumes}
    mounts = [m for m in config.mounts if m.target not in targets] + [
        _project_volume(project, m) for m in options.volumes
    ]
    config = replace(
        config,
        cmd=list(options.command) if options.command is not None else config.cmd,
        entrypoint=list(options.entrypoint) if options.entrypoint is not None else config.entrypoint,
        env=env,
        mounts=mounts,
        publish=list(config.publish) if options.service_ports else list(options.publish),
        user=options.user or config.user,
        workdir=options.workdir or config.workdir,
        tty=options.tty,
        open_stdin=options.stdin,
        stdin_once=options.stdin,
        restart=RestartPolicy(),
        auto_remove=options.remove,
    )
    return replace(base, config=config)


def _merged_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    merged = {e.partition("=")[0]: e for e in base}
    for item in extra:
        merged[item.partition("=")[0]] = item
    return list(merged.values())


def _project_volume(project: Project, mount: MountSpec) -> MountSpec:
    """``-v data:/x`` names the project's volume ``data`` when it declares one."""
    if mount.type == VOLUME and mount.source in project.volumes:
        return replace(mount, source=project.volumes[mount.source].name)
    return mount


def dependency_services(project: Project, service: Service) -> list[str]:
    """The services ``run`` brings up first: the service's dependencies the project enables (a
    missing one that is not ``required`` is left out, as Docker Compose does)."""
    return [d.service for d in service.depends_on if d.service in project.services]


def wait_dependencies(
    backend: EngineBackend,
    service: Service,
    ids: Mapping[str, Sequence[str]],
    report: Report,
    *,
    poll: float = 0.05,
    timeout: float | None = None,
) -> None:
    """Until each dependency of ``service`` meets its ``depends_on`` condition (healthy, or
    exited 0), as ``up`` waits before it starts a dependent; ComposeError naming the one that
    failed. ``ids``: the dependencies' containers (what ``up`` made or kept)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = [
        (d, cid)
        for d in service.depends_on
        if d.condition is not Condition.STARTED
        for cid in ids.get(d.service, ())
    ]
    said: set[str] = set()
    while waiting:
        left = []
        for dep, cid in waiting:
            c = Observed.of(backend.get_container(cid))
            if c.name not in said:
                said.add(c.name)
                report(Event(Kind.CONTAINER, c.name, "Waiting", Phase.WORKING))
            if _met(dep, c):
                report(
                    Event(
                        Kind.CONTAINER, c.name, "Healthy" if dep.condition is Condition.HEALTHY else "Exited"
                    )
                )
            else:
                left.append((dep, cid))
        waiting = left
        if waiting:
            if deadline is not None and time.monotonic() > deadline:
                raise ComposeError(f"dependencies of {service.name} not ready after {timeout:g}s")
            time.sleep(poll)


def _met(dep: Dependency, c: Observed) -> bool:
    """Whether ``c`` meets ``dep``'s condition yet; ComposeError when it never will."""
    stopped = c.status in (Status.EXITED, Status.DEAD)
    if dep.condition is Condition.HEALTHY:
        if c.health is HealthStatus.HEALTHY:
            return True
        if stopped:
            raise ComposeError(f"dependency failed to start: container {c.name} exited ({c.exit_code})")
        if c.health is HealthStatus.UNHEALTHY:
            raise ComposeError(f"dependency failed to start: container {c.name} is unhealthy")
        if c.health is None and c.running:
            raise ComposeError(
                f"dependency failed to start: container {c.name} has no healthcheck configured"
            )
        return False
    if not stopped:
        return False
    if c.exit_code != 0:
        raise ComposeError(f'service "{dep.service}" didn\'t complete successfully: exit {c.exit_code}')
    return True

"""What the engine holds of a project now, found by its labels (``cove.compose.names``).

Compose keeps no state of its own: a project's containers, networks and volumes are whatever
carries its ``com.docker.compose.project`` label, so an interrupted ``up`` is simply
observed again and converged from there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from cove.compose import names
from cove.engine.container_types import HealthStatus, Status

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.engine.containers.model import Container


@dataclass(frozen=True)
class Observed:
    """One of the project's containers as the engine reports it."""

    id: str
    name: str
    service: str
    number: int
    config_hash: str
    image_id: str
    status: Status
    health: HealthStatus | None = None
    exit_code: int | None = 0
    oneoff: bool = False

    @property
    def running(self) -> bool:
        return self.status in (Status.RUNNING, Status.RESTARTING, Status.PAUSED)

    @classmethod
    def of(cls, container: Container) -> Observed:
        record, state = container.record, container.status
        labels = record.config.labels
        try:
            number = int(labels.get(names.CONTAINER_NUMBER, "0"))
        except ValueError:
            number = 0
        return cls(
            id=record.id,
            name=record.name,
            service=labels.get(names.SERVICE, ""),
            number=number,
            config_hash=labels.get(names.CONFIG_HASH, ""),
            image_id=record.image_id,
            status=state.status,
            health=state.health.status if state.health is not None else None,
            exit_code=state.exit_code,
            oneoff=labels.get(names.ONEOFF, "False") == "True",
        )


def _empty() -> Mapping[str, tuple[Observed, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ProjectState:
    project: str
    # the service containers (not one-off ``run`` ones), by service, in number order
    containers: Mapping[str, tuple[Observed, ...]] = field(default_factory=_empty)
    networks: frozenset[str] = frozenset()  # engine names of the networks with the project's label
    volumes: frozenset[str] = frozenset()
    oneoffs: tuple[Observed, ...] = ()

    def of(self, service: str) -> tuple[Observed, ...]:
        return self.containers.get(service, ())

    def orphans(self, services: Collection[str]) -> tuple[Observed, ...]:
        """The project's containers whose service is not in the model (``services``: every
        service the files define, enabled or not, as Docker Compose counts them)."""
        return tuple(c for name, cs in sorted(self.containers.items()) if name not in services for c in cs)

    def all(self) -> tuple[Observed, ...]:
        return tuple(c for cs in self.containers.values() for c in cs)


def from_containers(project: str, containers: Collection[Observed]) -> ProjectState:
    by_service: dict[str, list[Observed]] = {}
    oneoffs = []
    for c in containers:
        if c.oneoff:
            oneoffs.append(c)
        else:
            by_service.setdefault(c.service, []).append(c)
    return ProjectState(
        project,
        MappingProxyType(
            {s: tuple(sorted(cs, key=lambda c: (c.number, c.name))) for s, cs in by_service.items()}
        ),
        oneoffs=tuple(oneoffs),
    )


def observe(backend: EngineBackend, project: str, *, resources: bool = False) -> ProjectState:
    """The project's containers (and, with ``resources``, its networks and volumes)."""
    found = from_containers(
        project, [Observed.of(c) for c in backend.list_containers(names.project_filter(project))]
    )
    if not resources:
        return found
    networks = frozenset(n.name for n in backend.list_networks(names.project_filter(project)))
    volumes = frozenset(v.name for v in backend.list_volumes(names.project_filter(project)))
    return ProjectState(project, found.containers, networks, volumes, found.oneoffs)

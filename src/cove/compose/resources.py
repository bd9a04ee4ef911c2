"""The networks and volumes a project declares: made by ``up`` with Docker Compose's labels,
removed by ``down`` (volumes only with ``-v``). External ones must exist already and are
never made or removed by compose."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import TYPE_CHECKING

from cove.compose import names
from cove.compose.errors import ComposeError
from cove.compose.model import Project, Resource
from cove.compose.progress import Event, Kind, Phase, Report
from cove.errors import CoveError, NotFound

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend


def used_networks(project: Project, services: Collection[str]) -> list[Resource]:
    """The declared networks ``services`` join, in declaration order."""
    used = {n.name for s in services for n in project.services[s].networks}
    return [r for key, r in project.networks.items() if key in used]


def used_volumes(project: Project, services: Collection[str]) -> list[Resource]:
    used = {m.source for s in services for m in project.services[s].volumes if m.source}
    return [r for key, r in project.volumes.items() if key in used]


def _labels(project: Project, resource: Resource, kind: str) -> dict[str, str]:
    labels = {k: v or "" for k, v in resource.labels.items()}
    labels.update({names.PROJECT: project.name, kind: resource.key, names.VERSION: names.COMPOSE_VERSION})
    return labels


def ensure_networks(
    backend: EngineBackend, project: Project, services: Collection[str], report: Report
) -> None:
    for network in used_networks(project, services):
        try:
            backend.get_network(network.name)
            continue
        except NotFound:
            if network.external:
                raise ComposeError(
                    f"network {network.name} declared as external, but could not be found"
                ) from None
        report(Event(Kind.NETWORK, network.name, "Creating", Phase.WORKING))
        ipam = network.options.get("ipam") or {}
        pool = (ipam.get("config") or [{}])[0] if isinstance(ipam, dict) else {}
        backend.create_network(
            network.name,
            driver=network.driver or "bridge",
            internal=bool(network.options.get("internal")),
            labels=_labels(project, network, names.NETWORK),
            options={k: str(v) for k, v in network.driver_opts.items()},
            subnet=pool.get("subnet"),
            gateway=pool.get("gateway"),
            ip_range=pool.get("ip_range"),
        )
        report(Event(Kind.NETWORK, network.name, "Created"))


def ensure_volumes(
    backend: EngineBackend, project: Project, services: Collection[str], report: Report
) -> None:
    for volume in used_volumes(project, services):
        try:
            backend.get_volume(volume.name)
            continue
        except NotFound:
            if volume.external:
                raise ComposeError(f'external volume "{volume.name}" not found') from None
        report(Event(Kind.VOLUME, volume.name, "Creating", Phase.WORKING))
        backend.create_volume(
            volume.name,
            driver=volume.driver or "local",
            labels=_labels(project, volume, names.VOLUME),
            options={k: str(v) for k, v in volume.driver_opts.items()},
        )
        report(Event(Kind.VOLUME, volume.name, "Created"))


def remove_networks(backend: EngineBackend, project: str, report: Report) -> None:
    """The networks carrying the project's label: never an external one, which compose did
    not make (nor label)."""
    for name in sorted(n.name for n in backend.list_networks(names.project_filter(project))):
        report(Event(Kind.NETWORK, name, "Removing", Phase.WORKING))
        try:
            backend.remove_network(name)
        except NotFound:
            pass
        except CoveError as exc:  # (in use: by an orphan left, or another project's container)
            report(Event(Kind.NETWORK, name, "Error", Phase.ERROR))
            report(Event(Kind.SERVICE, project, "Warning", Phase.WARNING, f"network {name}: {exc.message}"))
            continue
        report(Event(Kind.NETWORK, name, "Removed"))


def remove_volumes(backend: EngineBackend, project: str, report: Report) -> None:
    """The volumes carrying the project's label (``down -v``): never an external one."""
    for volume in sorted(backend.list_volumes(names.project_filter(project)), key=lambda v: v.name):
        report(Event(Kind.VOLUME, volume.name, "Removing", Phase.WORKING))
        with contextlib.suppress(NotFound):
            backend.remove_volume(volume.name)
        report(Event(Kind.VOLUME, volume.name, "Removed"))

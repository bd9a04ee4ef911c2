"""A service's container as the engine is asked for it: the model (``compose.model``) turned
into the engine's ``ContainerConfig``, with Docker Compose's name, labels and config hash.

Pure: no engine calls. What needs the engine's current state (another service's container for
``network_mode: service:X`` or ``volumes_from``) is handed in by the caller.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

from cove.compose import names
from cove.compose.model import Deploy, Project, Service
from cove.engine.requests import ContainerConfig, NetworkKind, NetworkMode


@dataclass(frozen=True)
class NetworkAttachment:
    """One more network a container joins after it is created (its first is in its config)."""

    network: str  # the engine's name of the network (``<project>_<key>`` or its ``name:``)
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None


@dataclass(frozen=True)
class ServiceContainer:
    """What to create for container ``number`` of a service."""

    name: str
    service: str
    number: int
    config: ContainerConfig
    more_networks: tuple[NetworkAttachment, ...] = ()
    config_hash: str = ""


def _plain(value: Any) -> Any:
    """A model value as JSON's types (dataclasses and read-only mappings included)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def config_hash(service: Service) -> str:
    """The service's config hash (the ``com.docker.compose.config-hash`` label): what ``up``
    compares to decide whether a running container still matches its service. The replica
    count is not part of it: scaling does not recreate."""
    unscaled = replace(
        service, scale=None, deploy=replace(service.deploy, replicas=None) if service.deploy else Deploy()
    )
    text = json.dumps(_plain(unscaled), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def service_container(
    project: Project,
    service: Service,
    number: int,
    *,
    image: str | None = None,
    oneoff: bool = False,
    slug: str = "",
    extra_labels: Mapping[str, str] | None = None,
) -> ServiceContainer:
    """Container ``number`` (1-based) of ``service``; ``image``: the image to run (a built
    service's tag) when it is not the service's ``image:``."""
    name = service.container_name or names.container_name(
        project.name, service.name, number, oneoff=oneoff, slug=slug
    )
    digest = config_hash(service)
    labels = {k: v or "" for k, v in service.labels.items()}
    labels.update({
        names.PROJECT: project.name,
        names.SERVICE: service.name,
        names.CONTAINER_NUMBER: str(number),
        names.ONEOFF: "True" if oneoff else "False",
        names.CONFIG_HASH: digest,
        names.WORKING_DIR: str(project.working_dir),
        names.CONFIG_FILES: ",".join(project.config_files),
        names.VERSION: names.COMPOSE_VERSION,
        names.DEPENDS_ON: ",".join(
            f"{d.service}:{d.condition.value}:{str(d.restart).lower()}" for d in service.depends_on
        ),
    })  # fmt: skip
    labels.update(extra_labels or {})
    networks = [
        (project.networks[n.name].name if n.name in project.networks else n.name, n) for n in service.networks
    ]
    if service.network_mode is None and networks:
        first_name, first = networks[0]
        mode = NetworkMode(NetworkKind.NETWORK, first_name)
        aliases = [service.name, *first.aliases]
    else:
        mode = NetworkMode.parse(service.network_mode or "bridge")
        aliases = []
        first = None
    config = ContainerConfig(
        image=image or service.image or f"{project.name}-{service.name}",
        entrypoint=list(service.entrypoint) if service.entrypoint is not None else None,
        cmd=list(service.command) if service.command is not None else None,
        env=[k if v is None else f"{k}={v}" for k, v in service.environment.items()],
        labels=labels,
        network=mode,
        network_aliases=aliases,
        ip=first.ipv4_address if first is not None else None,
    )
    more = tuple(
        NetworkAttachment(engine_name, (service.name, *n.aliases), n.ipv4_address)
        for engine_name, n in networks[1:]
    )
    return ServiceContainer(
        name, service.name, number, config, more if service.network_mode is None else (), digest
    )

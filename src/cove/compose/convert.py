"""A service's container as the engine is asked for it: the model (``compose.model``) turned
into the engine's ``ContainerConfig``, with Docker Compose's name, labels and config hash.

Pure: no engine calls. What needs the engine's current state (another service's container for
``network_mode: service:X`` or ``volumes_from``) is handed in by the caller.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

from cove.compose import names
from cove.compose.convert_mounts import MountsOf, first_container, service_mounts
from cove.compose.convert_options import (
    check_supported,
    checked,
    devices,
    dns,
    extra,
    extra_hosts,
    healthcheck,
    logging,
    platform,
    resources,
    restart,
    runtime,
    security,
    sysctls,
    ulimits,
)
from cove.compose.convert_ports import exposed_ports, published_ports
from cove.compose.errors import ComposeError
from cove.compose.model import Project, Service
from cove.compose.model import PullPolicy as ModelPull
from cove.engine.requests import ContainerConfig, NetworkKind, NetworkMode, PullPolicy, mac_address


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
    pull: PullPolicy = PullPolicy.MISSING  # the engine's pull policy for create_container
    warnings: tuple[str, ...] = ()  # what the engine does not do as Docker's would (one line each)


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


# What Docker Compose leaves out of the hash: how the image is made or fetched, how many
# containers there are and what starts before them do not make a container out of date.
_NOT_HASHED = {"build": None, "pull_policy": None, "pull_refresh": None, "scale": None, "depends_on": (),
               "profiles": ()}  # fmt: skip


def config_hash(service: Service) -> str:
    """The service's config hash (the ``com.docker.compose.config-hash`` label): what ``up``
    compares to decide whether a running container still matches its service. The replica
    count is not part of it: scaling does not recreate."""
    unscaled = replace(service, deploy=replace(service.deploy, replicas=None), **_NOT_HASHED)  # type: ignore[arg-type]
    text = json.dumps(_plain(unscaled), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_PULL = {
    ModelPull.ALWAYS: PullPolicy.ALWAYS,
    ModelPull.NEVER: PullPolicy.NEVER,
    ModelPull.MISSING: PullPolicy.MISSING,
    ModelPull.IF_NOT_PRESENT: PullPolicy.MISSING,
    ModelPull.BUILD: PullPolicy.NEVER,  # the image is built first, never pulled
    # daily, weekly, every_<d>: pulled again when the last pull is older, which is the image
    # step's to judge (it knows when it pulled); the engine then pulls only a missing image
    ModelPull.DAILY: PullPolicy.MISSING,
    ModelPull.WEEKLY: PullPolicy.MISSING,
    ModelPull.REFRESH: PullPolicy.MISSING,
}


def pull_policy(service: Service) -> PullPolicy:
    """The engine's pull policy for the service's image (``pull_policy:``; missing by default)."""
    return (
        PullPolicy.MISSING
        if service.pull_policy is None
        else _PULL.get(service.pull_policy, PullPolicy.MISSING)
    )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _network_mode(project: Project, service: Service) -> NetworkMode:
    mode = service.network_mode or ""
    if mode.startswith("service:"):  # the namespace of that service's first container
        return NetworkMode(NetworkKind.CONTAINER, first_container(project, mode.removeprefix("service:")))
    return checked(service, "network_mode", lambda: NetworkMode.parse(mode))


def _networks(
    project: Project, service: Service, name: str, use_aliases: bool
) -> tuple[NetworkMode, list[str], str | None, str | None, list[NetworkAttachment], list[str]]:
    """(mode, aliases, ip, mac, more networks, warnings) of the service's networks, the first by
    priority in the config, the others to connect after create. Every network knows the
    container by its name and, but for a one-off container, by the service's name and its aliases."""
    warnings: list[str] = []
    if service.network_mode is not None:
        return _network_mode(project, service), [], None, None, [], warnings
    if not service.networks:
        return NetworkMode(NetworkKind.NONE), [], None, None, [], warnings
    attachments = []
    for i, n in enumerate(service.networks):
        where = f"services.{service.name}.networks.{n.name}"
        resource = project.networks.get(n.name)
        engine_name = resource.name if resource is not None else n.name
        if n.ipv6_address:
            raise ComposeError(f"{where}.ipv6_address: IPv6 is not supported by cove's engine")
        if n.ipv4_address:
            try:
                ipaddress.IPv4Address(n.ipv4_address)
            except ValueError:
                raise ComposeError(f'{where}.ipv4_address: invalid IPv4 address "{n.ipv4_address}"') from None
        if n.mac_address and i > 0:
            raise ComposeError(
                f"{where}.mac_address: cove sets a MAC address on the first network only "
                f"({service.networks[0].name})"
            )
        if n.gw_priority and i > 0:
            warnings.append(f"{where}.gw_priority: the default route is always the first network's in cove")
        aliases = _unique([name, *((service.name, *n.aliases) if use_aliases else ())])
        attachments.append(NetworkAttachment(engine_name, tuple(aliases), n.ipv4_address))
    first = attachments[0]
    mac = service.networks[0].mac_address or extra(service, "mac_address")
    given = extra(service, "mac_address")
    if given and service.networks[0].mac_address and given != service.networks[0].mac_address:
        raise ComposeError(
            f"services.{service.name}.mac_address: the service-level mac_address should have the same value "
            f"as network {service.networks[0].name}"
        )
    mode = NetworkMode(NetworkKind.NETWORK, first.network)
    return mode, list(first.aliases), first.ipv4_address, mac, attachments[1:], warnings


def _link_warnings(service: Service) -> list[str]:
    """links: every service is reachable by its name on a shared network already; a link's own
    alias is not (Docker's legacy per-container aliases)."""
    out = []
    for link in service.links:
        target, _, alias = link.partition(":")
        if alias and alias != target:
            out.append(
                f'services.{service.name}.links: the alias "{alias}" of {target} does not resolve in cove; '
                f"use networks.<name>.aliases on {target}"
            )
    return out


def service_container(
    project: Project,
    service: Service,
    number: int,
    *,
    image: str | None = None,
    oneoff: bool = False,
    slug: str = "",
    extra_labels: Mapping[str, str] | None = None,
    mounts_of: MountsOf | None = None,
    use_aliases: bool | None = None,
    container_name: str | None = None,
) -> ServiceContainer:
    """Container ``number`` (1-based) of ``service``; ``image``: the image to run (a built
    service's tag) when it is not the service's ``image:``; ``mounts_of(container)``: the
    mounts of another container, for ``volumes_from``; ``use_aliases``: whether the networks
    know the container by its service's name and aliases (default: unless ``oneoff``, as
    ``docker compose run`` without ``--use-aliases``); ``container_name``: the name the caller
    chose (``run --name``); else the service's ``container_name:``, which a one-off container
    does not take (Docker Compose's rule), else ``<project>-<service>-<n>``. Bad or unsupported
    keys: ComposeError."""
    check_supported(service)
    platform(service)
    name = (
        container_name
        or (None if oneoff else service.container_name)
        or names.container_name(project.name, service.name, number, oneoff=oneoff, slug=slug)
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
    mode, aliases, ip, mac, more, warnings = _networks(
        project, service, name, (not oneoff) if use_aliases is None else use_aliases
    )
    health, no_health = healthcheck(service)
    no_new_privileges, seccomp = security(project, service)
    log_size, log_files = logging(service)
    config = ContainerConfig(
        image=image or service.image or f"{project.name}-{service.name}",
        entrypoint=list(service.entrypoint) if service.entrypoint is not None else None,
        cmd=list(service.command) if service.command is not None else None,
        # (a name without a value, unset where compose ran, unsets it in the container: Docker's rule)
        env=[k if v is None else f"{k}={v}" for k, v in service.environment.items()],
        workdir=service.working_dir or None,
        user=service.user or None,
        hostname=service.hostname or None,
        domainname=service.domainname or "",
        labels=labels,
        tty=service.tty,
        open_stdin=service.stdin_open,
        mounts=service_mounts(project, service, mounts_of),
        read_only=service.read_only,
        network=mode,
        network_aliases=aliases,
        ip=ip,
        mac_address=checked(service, "mac_address", lambda: mac_address(mac)),
        publish=published_ports(service),
        expose=exposed_ports(service),
        dns=dns(service),
        dns_search=list(service.dns_search),
        dns_options=list(service.dns_opt),
        extra_hosts=extra_hosts(service),
        resources=resources(service),
        ulimits=ulimits(service),
        cap_add=list(service.cap_add),
        cap_drop=list(service.cap_drop),
        privileged=service.privileged,
        no_new_privileges=no_new_privileges,
        seccomp=seccomp,
        devices=devices(service),
        restart=restart(service),
        init=bool(service.init),
        stop_signal=service.stop_signal or None,
        stop_timeout=int(service.stop_grace_period) if service.stop_grace_period is not None else None,
        healthcheck=health,
        no_healthcheck=no_health,
        runtime=runtime(service),
        log_max_size=log_size,
        log_max_files=log_files,
        sysctls=sysctls(service),
    )
    return ServiceContainer(
        name,
        service.name,
        number,
        config,
        tuple(more),
        digest,
        pull_policy(service),
        tuple(warnings + _link_warnings(service)),
    )

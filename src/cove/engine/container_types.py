"""What the container service returns: plain data, free of any wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cove.containers.state import ContainerState, Health, HealthStatus, Status

__all__ = ["ContainerDetails", "ContainerState", "Health", "HealthStatus", "MountPoint", "Status"]


@dataclass(frozen=True)
class MountPoint:
    type: str  # bind, volume, tmpfs
    name: str  # volume name ("" for others)
    source: str  # host path
    destination: str
    readonly: bool
    propagation: str


@dataclass(frozen=True)
class ContainerDetails:
    record: Any  # containers.store.ContainerRecord
    status: ContainerState
    command: list[str]
    env: list[str]
    image_config: dict[str, Any]
    mounts: list[MountPoint]
    driver: str
    graph_data: dict[str, str]
    resolv_conf_path: str
    hostname_path: str
    hosts_path: str
    log_path: str
    runtime: str
    health: Any = None  # containers.model.HealthConfig: the container's merged over the image's
    # (network name, network ID, endpoint, gateway, prefix length) per network
    networks: list[tuple[str, str, Any, str, int]] = field(default_factory=list)
    ports: list[Any] = field(default_factory=list)  # network.ports.Binding, while running
    sandbox_key: str = ""  # the network namespace's path

"""What the container service returns: plain data, free of any wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cove.containers.state import ContainerState, Health, HealthStatus, Status

if TYPE_CHECKING:  # (annotations only: the records' modules bring SQLite, which `cove version` needs not)
    from cove.containers.model import HealthConfig
    from cove.containers.store import ContainerRecord
    from cove.network.ports import Binding
    from cove.network.store import Endpoint

__all__ = [
    "ContainerDetails",
    "ContainerRecord",
    "ContainerSize",
    "ContainerState",
    "Health",
    "HealthStatus",
    "MountPoint",
    "NetworkAttachment",
    "Status",
]


@dataclass(frozen=True)
class ContainerSize:
    """Docker's SizeRw (what the container wrote) and SizeRootFs (that plus its image)."""

    rw: int
    root_fs: int


@dataclass(frozen=True)
class MountPoint:
    type: str  # bind, volume, tmpfs
    name: str  # volume name ("" for others)
    source: str  # host path
    destination: str
    readonly: bool
    propagation: str


@dataclass(frozen=True)
class NetworkAttachment:
    """One network a container is on, as inspect shows it."""

    name: str
    network_id: str
    endpoint: Endpoint
    gateway: str
    prefix_length: int


@dataclass(frozen=True)
class ContainerDetails:
    record: ContainerRecord
    status: ContainerState
    command: list[str]
    env: list[str]
    # The image's settings (its config's "config" object, JSON as the image has it); None when
    # they are unknown: a record from before they were kept, whose image was removed since.
    image_config: dict[str, Any] | None
    mounts: list[MountPoint]
    driver: str
    graph_data: dict[str, str]
    resolv_conf_path: str
    hostname_path: str
    hosts_path: str
    log_path: str
    runtime: str
    health: HealthConfig | None = None  # the container's merged over the image's
    networks: list[NetworkAttachment] = field(default_factory=list)
    ports: list[Binding] = field(default_factory=list)  # while running
    sandbox_key: str = ""  # the network namespace's path

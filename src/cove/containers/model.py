"""What a container was created with (``docker create``'s options), as stored in the database.

The options that Docker spells as small languages (``--network container:web``, ``-p
8080:80/udp``, ``--restart on-failure:3``) are value objects here, parsed once at the edge
and validated there; the stored JSON keeps the shapes older records were written in, and
:meth:`ContainerConfig.from_json` still reads those.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cove.errors import InvalidArgument
from cove.network.ports import PortSpec
from cove.policies import PullPolicy, RestartName, RestartPolicy

__all__ = [
    "BIND",
    "TMPFS",
    "VOLUME",
    "ContainerConfig",
    "DeviceRequest",
    "HealthConfig",
    "MountSpec",
    "NetworkKind",
    "NetworkMode",
    "PortSpec",
    "PullPolicy",
    "Resources",
    "RestartName",
    "RestartPolicy",
    "Ulimit",
]

BIND = "bind"
VOLUME = "volume"
TMPFS = "tmpfs"
MOUNT_TYPES = (BIND, VOLUME, TMPFS)
NAME_MAX = 256  # a network or container name given to --network: longer is not a name


@dataclass(frozen=True)
class MountSpec:
    type: str  # bind, volume, tmpfs
    target: str
    source: str = ""  # host path (bind) or volume name ("" = anonymous volume)
    readonly: bool = False
    propagation: str = ""  # bind: rprivate (default), rshared, ...
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    no_copy: bool = False  # volume: do not fill a new volume from the image
    create_host_path: bool = False  # bind given with -v: make the host directory if missing
    # --tmpfs: its other mount(8) options (exec, nosuid, uid=1000, ...), in the order given
    tmpfs_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in MOUNT_TYPES:
            raise InvalidArgument(f"invalid mount type {self.type!r}", hint="use bind, volume or tmpfs")
        # (a list, from JSON or a caller, becomes a tuple: the spec stays immutable)
        object.__setattr__(self, "tmpfs_options", tuple(self.tmpfs_options))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MountSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class NetworkKind(enum.StrEnum):
    BRIDGE = "bridge"  # the default bridge network
    NONE = "none"  # a namespace of its own with loopback only (also spelt "private")
    HOST = "host"  # the host's namespace
    CONTAINER = "container"  # another container's namespace: container:NAME
    NETWORK = "network"  # a user-defined network, by name or ID


@dataclass(frozen=True)
class NetworkMode:
    """``--network``: which network namespace the container gets, and what it joins."""

    kind: NetworkKind
    name: str = ""  # NETWORK: the network's name or ID; CONTAINER: the container's

    def __post_init__(self) -> None:
        needs_name = self.kind in (NetworkKind.NETWORK, NetworkKind.CONTAINER)
        if needs_name != bool(self.name):
            raise InvalidArgument(f"invalid network mode {self.kind}:{self.name!r}")
        if len(self.name) > NAME_MAX or any(c in self.name for c in "\0\n/"):
            raise InvalidArgument(f"invalid network name {self.name[:NAME_MAX]!r}")

    @classmethod
    def parse(cls, text: str) -> NetworkMode:
        """Docker's ``--network`` text: bridge (or default), none (or private), host,
        container:NAME, or a network's name."""
        if text in ("", "default", NetworkKind.BRIDGE):
            return cls(NetworkKind.BRIDGE)
        if text in (NetworkKind.NONE, "private"):
            return cls(NetworkKind.NONE)
        if text == NetworkKind.HOST:
            return cls(NetworkKind.HOST)
        if text.startswith("container:"):
            other = text.split(":", 1)[1]
            if not other:
                raise InvalidArgument(f"invalid network mode {text!r}", hint="use container:NAME")
            return cls(NetworkKind.CONTAINER, other)
        return cls(NetworkKind.NETWORK, text)

    @property
    def network(self) -> str | None:
        """The network the container is attached to: bridge, a user network, or None (none,
        host, container:X have no network of their own)."""
        if self.kind is NetworkKind.BRIDGE:
            return str(NetworkKind.BRIDGE)
        return self.name if self.kind is NetworkKind.NETWORK else None

    @property
    def own_namespace(self) -> bool:
        """Whether the container gets a network namespace of its own that cove wires."""
        return self.network is not None

    def __str__(self) -> str:
        if self.kind is NetworkKind.CONTAINER:
            return f"container:{self.name}"
        return self.name if self.kind is NetworkKind.NETWORK else str(self.kind)


@dataclass
class HealthConfig:
    test: list[str]
    interval: float = 0.0  # seconds; 0 = default
    timeout: float = 0.0
    retries: int = 0
    start_period: float = 0.0
    start_interval: float = 0.0


@dataclass
class Resources:
    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None


@dataclass
class Ulimit:
    name: str  # nofile
    soft: int
    hard: int


@dataclass
class DeviceRequest:
    host_path: str
    container_path: str
    access: str = "rwm"


@dataclass
class ContainerConfig:
    image: str  # as the user named it
    entrypoint: list[str] | None = None  # None: the image's
    cmd: list[str] | None = None  # None: the image's
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    domainname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    mounts: list[MountSpec] = field(default_factory=list)
    read_only: bool = False
    network: NetworkMode = field(default_factory=lambda: NetworkMode(NetworkKind.NONE))
    network_aliases: list[str] = field(default_factory=list)
    ip: str | None = None  # --ip on a user network
    mac_address: str | None = None  # --mac-address
    publish: list[PortSpec] = field(default_factory=list)
    publish_all: bool = False  # -P: every exposed port, on a free host port
    expose: list[str] = field(default_factory=list)  # --expose 80, 8000-8010/udp
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)  # resolv.conf "options" (--dns-option)
    extra_hosts: list[str] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    ulimits: list[Ulimit] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"  # default, unconfined, or a profile's JSON text
    devices: list[DeviceRequest] = field(default_factory=list)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    init: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    healthcheck: HealthConfig | None = None
    no_healthcheck: bool = False
    runtime: str | None = None
    log_max_size: int | None = None
    log_max_files: int | None = None
    auto_remove: bool = False
    sysctls: dict[str, str] = field(default_factory=dict)
    # The image's own settings (Cmd, Env, User, ...) as they were at create time, so that a
    # container still starts after its image was force-removed, as in Docker.
    image_defaults: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["network"] = str(self.network)
        data["restart"] = self.restart.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerConfig:
        """A stored config, as :meth:`to_json` writes it or as older records have it (the
        restart policy as a name and a separate ``restart_max_retries``)."""
        data = dict(data)
        data["network"] = NetworkMode.parse(str(data.get("network", "private")))
        data["restart"] = RestartPolicy.from_json(
            data.get("restart", "no"), data.get("restart_max_retries", 0)
        )
        data["publish"] = [_port_spec(p) for p in data.get("publish", [])]
        data["mounts"] = [MountSpec.from_json(m) for m in data.get("mounts", [])]
        data["resources"] = Resources(**data.get("resources", {}))
        data["ulimits"] = [Ulimit(**u) for u in data.get("ulimits", [])]
        data["devices"] = [DeviceRequest(**d) for d in data.get("devices", [])]
        if data.get("healthcheck"):
            data["healthcheck"] = HealthConfig(**data["healthcheck"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _port_spec(data: Mapping[str, Any]) -> PortSpec:
    known = {f.name for f in dataclasses.fields(PortSpec)}
    return PortSpec(**{k: v for k, v in data.items() if k in known})

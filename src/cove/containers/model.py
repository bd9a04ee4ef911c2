"""What a container was created with (``docker create``'s options), as stored in the database."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

BIND = "bind"
VOLUME = "volume"
TMPFS = "tmpfs"

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


@dataclass
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
    tmpfs_options: list[str] = field(default_factory=list)


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
    network: str = "private"  # bridge, a network's name, none / private (loopback only), host, container:X
    network_aliases: list[str] = field(default_factory=list)
    ip: str | None = None  # --ip on a user network
    mac_address: str | None = None  # --mac-address
    publish: list[dict[str, Any]] = field(default_factory=list)  # network.ports.PortSpec fields
    publish_all: bool = False  # -P: every exposed port, on a free host port
    expose: list[str] = field(default_factory=list)  # --expose 80, 8000-8010/udp
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    ulimits: list[Ulimit] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"  # default, unconfined, or a profile's JSON text
    devices: list[DeviceRequest] = field(default_factory=list)
    restart: str = "no"
    restart_max_retries: int = 0
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
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerConfig:
        data = dict(data)
        data["mounts"] = [MountSpec(**m) for m in data.get("mounts", [])]
        data["resources"] = Resources(**data.get("resources", {}))
        data["ulimits"] = [Ulimit(**u) for u in data.get("ulimits", [])]
        data["devices"] = [DeviceRequest(**d) for d in data.get("devices", [])]
        if data.get("healthcheck"):
            data["healthcheck"] = HealthConfig(**data["healthcheck"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

"""The typed project: frozen dataclasses and enums built from the canonical tree (normalize.py).

Everything is already in its long form when it gets here, so each constructor only reads; the
running half of compose works from these and never from dicts. Durations are seconds, sizes
bytes, file modes integers.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cove.compose.normalize import parse_seconds, parse_size

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


class Condition(enum.Enum):
    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED_SUCCESSFULLY = "service_completed_successfully"


class MountType(enum.Enum):
    VOLUME = "volume"
    BIND = "bind"
    TMPFS = "tmpfs"
    NPIPE = "npipe"
    CLUSTER = "cluster"
    IMAGE = "image"


class PullPolicy(enum.Enum):
    ALWAYS = "always"
    NEVER = "never"
    MISSING = "missing"
    IF_NOT_PRESENT = "if_not_present"
    BUILD = "build"
    DAILY = "daily"
    WEEKLY = "weekly"
    REFRESH = "refresh"

    @classmethod
    def parse(cls, text: str | None) -> PullPolicy | None:
        if text is None:
            return None
        for member in cls:
            if member.value == text:
                return member
        # every_<duration>: refreshed when older than that (Service.pull_refresh)
        return cls.REFRESH if text.startswith("every_") else cls.MISSING


_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def pull_refresh_of(text: str | None) -> float | None:
    """The age in seconds after which a daily, weekly or every_<duration> pull policy pulls
    again (every_1w2d, every_12h, every_30m...); None for the other policies."""
    if text == "daily":
        return 86400.0
    if text == "weekly":
        return 604800.0
    if not text or not text.startswith("every_"):
        return None
    parts = re.findall(r"([0-9]+)([wdhms])", text[6:])
    if not parts or "".join(n + u for n, u in parts) != text[6:]:
        return None
    return float(sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class Port:
    target: int
    published: str | None = None  # a port or a range ("8000-8010")
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Port:
        return cls(
            target=int(d["target"]),
            published=d.get("published"),
            host_ip=d.get("host_ip"),
            protocol=d.get("protocol", "tcp"),
            mode=d.get("mode", "ingress"),
            name=d.get("name"),
            app_protocol=d.get("app_protocol"),
        )


@dataclass(frozen=True)
class Mount:
    type: MountType
    target: str
    source: str | None = None
    read_only: bool = False
    create_host_path: bool = True  # bind: create a missing host directory
    propagation: str | None = None
    selinux: str | None = None
    nocopy: bool = False  # volume
    subpath: str | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Mount:
        bind = d.get("bind") or {}
        volume = d.get("volume") or {}
        tmpfs = d.get("tmpfs") or {}
        size = tmpfs.get("size")
        return cls(
            type=MountType(d["type"]),
            target=d["target"],
            source=d.get("source"),
            read_only=bool(d.get("read_only", False)),
            create_host_path=bool(bind.get("create_host_path", True)),
            propagation=bind.get("propagation"),
            selinux=bind.get("selinux"),
            nocopy=bool(volume.get("nocopy", False)),
            subpath=volume.get("subpath"),
            tmpfs_size=parse_size(size, "tmpfs.size") if size is not None else None,
            tmpfs_mode=tmpfs.get("mode"),
        )


@dataclass(frozen=True)
class ServiceNetwork:
    name: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int = 0
    gw_priority: int = 0
    mac_address: str | None = None

    @classmethod
    def of(cls, name: str, d: Mapping[str, Any] | None) -> ServiceNetwork:
        d = d or {}
        return cls(
            name=name,
            aliases=tuple(d.get("aliases") or ()),
            ipv4_address=d.get("ipv4_address"),
            ipv6_address=d.get("ipv6_address"),
            priority=int(d.get("priority", 0)),
            gw_priority=int(d.get("gw_priority", 0)),
            mac_address=d.get("mac_address"),
        )


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: Condition = Condition.STARTED
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...] = ()
    interval: float | None = None
    timeout: float | None = None
    start_period: float | None = None
    start_interval: float | None = None
    retries: int | None = None
    disable: bool = False

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Healthcheck:
        def seconds(key: str) -> float | None:
            return parse_seconds(d[key], f"healthcheck.{key}") if key in d else None

        test = tuple(d.get("test") or ())
        return cls(
            test=test,
            interval=seconds("interval"),
            timeout=seconds("timeout"),
            start_period=seconds("start_period"),
            start_interval=seconds("start_interval"),
            retries=d.get("retries"),
            disable=bool(d.get("disable")) or test[:1] == ("NONE",),
        )


@dataclass(frozen=True)
class Resources:
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None
    extras: Mapping[str, Any] = field(default_factory=_empty)  # devices, generic_resources: as given

    @classmethod
    def of(cls, d: Mapping[str, Any] | None) -> Resources:
        d = d or {}
        return cls(
            cpus=float(d["cpus"]) if "cpus" in d else None,
            memory=int(d["memory"]) if "memory" in d else None,
            pids=d.get("pids"),
            extras=_frozen({k: v for k, v in d.items() if k not in ("cpus", "memory", "pids")}),
        )


@dataclass(frozen=True)
class Deploy:
    replicas: int | None = None
    limits: Resources = Resources()
    reservations: Resources = Resources()
    restart_condition: str | None = None  # deploy.restart_policy (Compose applies it as restart:)
    restart_max_attempts: int | None = None


@dataclass(frozen=True)
class FileReference:
    """A secret or config mounted into the container, with the owner and mode it asks for."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> FileReference:
        mode = d.get("mode")
        return cls(
            source=d["source"],
            target=d.get("target"),
            uid=d.get("uid"),
            gid=d.get("gid"),
            mode=int(mode, 8) if isinstance(mode, str) else mode,
        )


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Logging:
    driver: str | None = None
    options: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class Device:
    source: str
    target: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class Build:
    context: str
    dockerfile: str = "Dockerfile"
    dockerfile_inline: str | None = None
    args: Mapping[str, str | None] = field(default_factory=_empty)
    target: str | None = None
    labels: Mapping[str, str | None] = field(default_factory=_empty)
    secrets: tuple[FileReference, ...] = ()
    ssh: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # more names for the built image
    no_cache: bool = False
    pull: bool = False  # pull the base images even when present
    network: str | None = None  # of the RUN steps

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Build:
        ssh = d.get("ssh") or ()
        return cls(
            context=d["context"],
            dockerfile=d.get("dockerfile", "Dockerfile"),
            dockerfile_inline=d.get("dockerfile_inline"),
            args=_frozen(d.get("args")),
            target=d.get("target"),
            labels=_frozen(d.get("labels")),
            secrets=tuple(
                FileReference.of({"source": s} if isinstance(s, str) else s) for s in d.get("secrets") or ()
            ),
            ssh=tuple(ssh)
            if isinstance(ssh, list)
            else tuple(f"{k}={v}" if v else k for k, v in dict(ssh).items()),
            tags=_strings(d.get("tags")),
            no_cache=bool(d.get("no_cache")),
            pull=bool(d.get("pull")),
            network=d.get("network"),
        )


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str | None] = field(default_factory=_empty)  # env_file and environment resolved
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[Mount, ...] = ()
    volumes_from: tuple[str, ...] = ()
    networks: tuple[ServiceNetwork, ...] = ()
    network_mode: str | None = None
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    deploy: Deploy = Deploy()
    # the short resource keys, as given (deploy.resources holds the long form)
    mem_limit: int | None = None
    mem_reservation: int | None = None
    memswap_limit: int | None = None
    shm_size: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    labels: Mapping[str, str | None] = field(default_factory=_empty)
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    init: bool | None = None
    read_only: bool = False
    tmpfs: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: Mapping[str, str | None] = field(default_factory=_empty)
    devices: tuple[Device, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    logging: Logging | None = None
    tty: bool = False
    stdin_open: bool = False
    pull_policy: PullPolicy | None = None
    pull_refresh: float | None = None  # seconds, for daily, weekly and every_<duration>
    container_name: str | None = None
    platform: str | None = None
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()
    profiles: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    scale: int | None = None
    # the keys this model does not type (cpuset, gpus, ipc...), as given: the converter turns
    # each into the engine's option or a clear error, never drops it
    extras: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def replicas(self) -> int:
        """How many containers: deploy.replicas, else scale, else 1."""
        if self.deploy.replicas is not None:
            return self.deploy.replicas
        return self.scale if self.scale is not None else 1

    def dependencies(self) -> tuple[str, ...]:
        """The services started before this one (depends_on, network_mode service:, volumes_from)."""
        from cove.compose.checks import implicit_dependencies  # noqa: PLC0415 - checks imports nothing of here

        return tuple(implicit_dependencies({
            "depends_on": {d.service: None for d in self.depends_on},
            "network_mode": self.network_mode,
            "volumes_from": list(self.volumes_from),
        }))  # fmt: skip


@dataclass(frozen=True)
class Resource:
    """A top-level network, volume, secret or config (what it is called on the engine and how)."""

    key: str
    name: str
    external: bool = False
    driver: str | None = None
    driver_opts: Mapping[str, Any] = field(default_factory=_empty)
    labels: Mapping[str, str | None] = field(default_factory=_empty)
    file: str | None = None  # secrets and configs
    environment: str | None = None
    content: str | None = None
    # everything else, as given (ipam, internal, ...)
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: Path
    services: Mapping[str, Service]
    networks: Mapping[str, Resource] = field(default_factory=_empty)
    volumes: Mapping[str, Resource] = field(default_factory=_empty)
    secrets: Mapping[str, Resource] = field(default_factory=_empty)
    configs: Mapping[str, Resource] = field(default_factory=_empty)
    config_files: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=_empty)
    # What interpolation saw (the process's environment over .env / --env-file): build args
    # given without a value and secrets from `environment:` read it, as Docker Compose does.
    environment: Mapping[str, str] = field(default_factory=_empty)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _ulimits(d: Mapping[str, Any] | None) -> tuple[Ulimit, ...]:
    out = []
    for name, value in (d or {}).items():
        if isinstance(value, dict):
            out.append(Ulimit(name, int(value["soft"]), int(value["hard"])))
        else:
            out.append(Ulimit(name, int(value), int(value)))
    return tuple(out)


def service_of(name: str, d: Mapping[str, Any]) -> Service:
    """One canonical service mapping as a Service."""
    deploy = d.get("deploy") or {}
    resources = deploy.get("resources") or {}
    restart_policy = deploy.get("restart_policy") or {}
    logging = d.get("logging")

    def size(key: str) -> int | None:
        return int(d[key]) if key in d else None

    return Service(
        name=name,
        image=d.get("image"),
        build=Build.of(d["build"]) if "build" in d else None,
        command=tuple(d["command"]) if d.get("command") is not None else None,
        entrypoint=tuple(d["entrypoint"]) if d.get("entrypoint") is not None else None,
        environment=_frozen(d.get("environment")),
        ports=tuple(Port.of(p) for p in d.get("ports") or ()),
        expose=_strings(d.get("expose")),
        volumes=tuple(Mount.of(v) for v in d.get("volumes") or ()),
        volumes_from=_strings(d.get("volumes_from")),
        networks=tuple(
            sorted(
                (ServiceNetwork.of(n, v) for n, v in (d.get("networks") or {}).items()),
                key=lambda n: (-n.priority, n.name),
            )
        ),
        network_mode=d.get("network_mode"),
        depends_on=tuple(
            Dependency(
                dep, Condition(spec["condition"]), bool(spec.get("required", True)), bool(spec.get("restart"))
            )
            for dep, spec in (d.get("depends_on") or {}).items()
        ),
        healthcheck=Healthcheck.of(d["healthcheck"]) if "healthcheck" in d else None,
        restart=d.get("restart"),
        deploy=Deploy(
            replicas=deploy.get("replicas"),
            limits=Resources.of(resources.get("limits")),
            reservations=Resources.of(resources.get("reservations")),
            restart_condition=restart_policy.get("condition"),
            restart_max_attempts=restart_policy.get("max_attempts"),
        ),
        mem_limit=size("mem_limit"),
        mem_reservation=size("mem_reservation"),
        memswap_limit=size("memswap_limit"),
        shm_size=size("shm_size"),
        cpus=float(d["cpus"]) if "cpus" in d else None,
        cpu_shares=d.get("cpu_shares"),
        pids_limit=d.get("pids_limit"),
        user=d.get("user"),
        working_dir=d.get("working_dir"),
        hostname=d.get("hostname"),
        domainname=d.get("domainname"),
        labels=_frozen(d.get("labels")),
        stop_signal=d.get("stop_signal"),
        stop_grace_period=parse_seconds(d["stop_grace_period"], "stop_grace_period")
        if "stop_grace_period" in d
        else None,
        init=d.get("init"),
        read_only=bool(d.get("read_only")),
        tmpfs=_strings(d.get("tmpfs")),
        cap_add=_strings(d.get("cap_add")),
        cap_drop=_strings(d.get("cap_drop")),
        privileged=bool(d.get("privileged")),
        security_opt=_strings(d.get("security_opt")),
        ulimits=_ulimits(d.get("ulimits")),
        sysctls=_frozen(d.get("sysctls")),
        devices=tuple(Device(**x) for x in d.get("devices") or ()),
        extra_hosts=_strings(d.get("extra_hosts")),
        dns=_strings(d.get("dns")),
        dns_search=_strings(d.get("dns_search")),
        dns_opt=_strings(d.get("dns_opt")),
        logging=Logging(logging.get("driver"), _frozen(logging.get("options"))) if logging else None,
        tty=bool(d.get("tty")),
        stdin_open=bool(d.get("stdin_open")),
        pull_policy=PullPolicy.parse(d.get("pull_policy")),
        pull_refresh=pull_refresh_of(d.get("pull_policy")),
        container_name=d.get("container_name"),
        platform=d.get("platform"),
        secrets=tuple(FileReference.of(s) for s in d.get("secrets") or ()),
        configs=tuple(FileReference.of(s) for s in d.get("configs") or ()),
        profiles=_strings(d.get("profiles")),
        links=_strings(d.get("links")),
        scale=d.get("scale"),
        extras=_frozen({k: v for k, v in d.items() if k not in _TYPED_KEYS and not k.startswith("x-")}),
    )


# The service keys service_of reads (or the loader resolved: env_file, extends), or that only the
# CLI and watch use (attach, develop).
_TYPED_KEYS = frozenset(
    {f.name for f in dataclasses.fields(Service)} - {"name", "extras"}
    | {"env_file", "extends", "attach", "develop"}
)


_RESOURCE_FIELDS = ("name", "external", "driver", "driver_opts", "labels", "file", "environment", "content")


def _resources(entries: Mapping[str, Any] | None) -> Mapping[str, Resource]:
    out = {}
    for key, d in (entries or {}).items():
        out[key] = Resource(
            key=key,
            name=d["name"],
            external=bool(d.get("external")),
            driver=d.get("driver"),
            driver_opts=_frozen(d.get("driver_opts")),
            labels=_frozen(d.get("labels")),
            file=d.get("file"),
            environment=d.get("environment"),
            content=d.get("content"),
            options=_frozen({k: v for k, v in d.items() if k not in _RESOURCE_FIELDS}),
        )
    return MappingProxyType(out)


def project_of(
    tree: Mapping[str, Any],
    working_dir: Path,
    config_files: tuple[str, ...] = (),
    environment: Mapping[str, str] | None = None,
) -> Project:
    """The canonical tree (loader.load_tree) as a Project."""
    return Project(
        name=tree["name"],
        working_dir=working_dir,
        services=MappingProxyType({n: service_of(n, s) for n, s in tree["services"].items()}),
        networks=_resources(tree.get("networks")),
        volumes=_resources(tree.get("volumes")),
        secrets=_resources(tree.get("secrets")),
        configs=_resources(tree.get("configs")),
        config_files=config_files,
        extensions=_frozen({k: v for k, v in tree.items() if k.startswith("x-")}),
        environment=_frozen(environment),
    )

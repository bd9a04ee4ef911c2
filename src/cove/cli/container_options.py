"""The flags of ``run`` and ``create`` (Docker's), turned into a ContainerConfig."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from cove.cli.parser import go_bool
from cove.engine.requests import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    DeviceRequest,
    HealthConfig,
    MountSpec,
    NetworkMode,
    PortSpec,
    Resources,
    RestartPolicy,
    Ulimit,
    check_platform,
    go_int,
    mac_address,
    octal_mode,
    parse_log_opts,
    parse_security_opts,
    parse_tmpfs,
)
from cove.errors import InvalidArgument
from cove.units import parse_bytes, parse_duration

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
IGNORED_VOLUME_OPTIONS = ("z", "Z", "consistent", "cached", "delegated", "rw")
BARE_MOUNT_KEYS = ("readonly", "ro", "volume-nocopy")  # the --mount keys Docker takes without =value
# Other spellings of a --mount key; as in Docker, the last of them given wins.
MOUNT_KEY_ALIASES = {"ro": "readonly", "src": "source", "dst": "target", "destination": "target"}


def add_create_flags(p: argparse.ArgumentParser) -> None:
    """Every flag ``create`` and ``run`` share."""
    p.add_argument("--help", action="help", help="show this help message and exit")
    add = p.add_argument
    add("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    add("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    add("--name", help="assign a name to the container")
    add("-e", "--env", action="append", default=[], metavar="KEY[=VALUE]", help="set environment variables")
    add(
        "--env-file",
        action="append",
        default=[],
        metavar="FILE",
        help="read environment variables from a file",
    )
    add("-w", "--workdir", help="working directory inside the container")
    add("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    add("--entrypoint", help="overwrite the image's default ENTRYPOINT")
    add("-h", "--hostname", help="container host name")
    add(
        "-l",
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="set metadata on a container",
    )
    add(
        "-v", "--volume", action="append", default=[], metavar="[SRC:]DST[:OPTS]", help="bind mount or volume"
    )
    add(
        "--mount",
        action="append",
        default=[],
        metavar="type=...,target=...",
        help="attach a filesystem mount",
    )
    add("--tmpfs", action="append", default=[], metavar="PATH[:OPTS]", help="mount a tmpfs directory")
    add("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    add("-m", "--memory", help="memory limit (e.g. 512m)")
    add("--memory-swap", help="memory plus swap limit; -1 for unlimited swap")
    add("--cpus", type=float, help="number of CPUs (e.g. 1.5)")
    add("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    add("--pids-limit", type=int, help="tune the container's pids limit (-1 for unlimited)")
    add("--ulimit", action="append", default=[], metavar="NAME=SOFT[:HARD]", help="ulimit options")
    add("--cap-add", action="append", default=[], help="add Linux capabilities")
    add("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    add("--privileged", action="store_true", help="give extended privileges to this container")
    add(
        "--security-opt",
        action="append",
        default=[],
        help="no-new-privileges, seccomp=unconfined|PROFILE.json",
    )
    add("--device", action="append", default=[], metavar="HOST[:CONTAINER[:rwm]]", help="add a host device")
    add("--restart", default="no", help="restart policy: no, on-failure[:N], always, unless-stopped")
    add(
        "--network",
        "--net",
        default="bridge",
        help="connect to a network: bridge (default), a network's name, none, host, container:NAME",
    )
    add("--network-alias", action="append", default=[], help="add a network-scoped alias for the container")
    add("--ip", help="IPv4 address on the (user-defined) network")
    add("--mac-address", help="container MAC address (e.g. 92:d0:c6:0a:29:33)")
    add(
        "-p",
        "--publish",
        action="append",
        default=[],
        metavar="[IP:][HOST_PORT:]PORT[/PROTO]",
        help="publish a container's port on the host (a free host port when none is given)",
    )
    add("-P", "--publish-all", action="store_true", help="publish all exposed ports on free host ports")
    add("--expose", action="append", default=[], help="expose a port or a range of ports")
    add("--dns", action="append", default=[], help="set custom DNS servers")
    add("--dns-search", action="append", default=[], help="set custom DNS search domains")
    add("--dns-option", "--dns-opt", action="append", default=[], help="set DNS resolver options")
    add("--add-host", action="append", default=[], metavar="HOST:IP", help="add a custom host-to-IP mapping")
    add(
        "--init", action="store_true", help="run an init inside the container that forwards signals and reaps"
    )
    add("--stop-signal", help="signal to stop the container (default SIGTERM)")
    add("--stop-timeout", type=int, help="seconds to wait before killing the container on stop")
    add("--health-cmd", help="command to run to check health")
    add("--health-interval", help="time between running the check (e.g. 30s)")
    add("--health-timeout", help="maximum time to allow one check to run")
    add("--health-retries", type=int, help="consecutive failures needed to report unhealthy")
    add("--health-start-period", help="start period during which failures are not counted")
    add("--health-start-interval", help="time between checks during the start period")
    add("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")
    add(
        "--pull",
        default="missing",
        choices=("missing", "always", "never"),
        help="pull the image before creating: when missing (default), always, or never",
    )
    add("-q", "--quiet", action="store_true", help="suppress the pull output")
    add("--cidfile", help="write the container ID to the file")
    add("--log-opt", action="append", default=[], metavar="max-size=SIZE|max-file=N", help="log options")
    add("--runtime", help="OCI runtime to use for this container (crun, runc, or a path)")
    add("--platform", help="set platform (only the host's is supported)")
    add("--sysctl", action="append", default=[], help="sysctl options (KEY=VALUE)")
    add("image", metavar="IMAGE")
    add("command", nargs=argparse.REMAINDER, metavar="[COMMAND] [ARG...]")


def _go_bool(value: str, what: str) -> bool:
    """A Go boolean in an option's value; a bad one is the user's mistake, named."""
    try:
        return go_bool(value)
    except argparse.ArgumentTypeError:
        raise InvalidArgument(f"invalid value for {what}: {value}", hint="use true or false") from None


def _env_item(item: str, env: Mapping[str, str]) -> str | None:
    """Docker's ValidateEnv: KEY=VALUE as given; KEY alone takes its value from env, if set."""
    name, eq, _ = item.partition("=")
    if not name:
        raise InvalidArgument(f"invalid environment variable: {item}")
    if eq:
        return item
    return f"{name}={env[name]}" if name in env else None


def read_env_file(path: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Docker's env file: KEY=VALUE lines (the value kept as written), KEY alone (taken from env,
    by default this process's), blank lines and # comments."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"env file {path} contains invalid utf8 bytes") from None
    source = os.environ if env is None else env
    out = []
    for raw in text.removeprefix("\ufeff").split("\n"):
        line = raw.removesuffix("\r").lstrip()  # only the front is trimmed, as Docker does
        if line and not line.startswith("#"):
            item = _env_file_item(path, line, source)
            if item is not None:
                out.append(item)
    return out


def _env_file_item(path: str, line: str, env: Mapping[str, str]) -> str | None:
    name = line.partition("=")[0]
    if not name:
        raise InvalidArgument(f"invalid env file {path}: no variable name on line {line!r}")
    if any(c.isspace() for c in name):
        raise InvalidArgument(f"invalid env file {path}: variable {name!r} contains whitespaces")
    return _env_item(line, env)


def environment(files: list[str], items: list[str], env: Mapping[str, str]) -> list[str]:
    """docker/cli's ReadKVEnvStrings: every --env-file in the order given, then every -e."""
    out = [item for path in files for item in read_env_file(path, env)]
    return out + [item for item in (_env_item(e, env) for e in items) if item is not None]


def parse_volume(spec: str) -> MountSpec:
    """-v: /host:/ctr[:opts] (bind), name:/ctr[:opts] (named volume), /ctr (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return MountSpec(VOLUME, parts[0])
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    readonly = "ro" in options
    propagation = next((o for o in options if o in PROPAGATIONS), "")
    for option in options:
        if option not in ("ro", "nocopy", *PROPAGATIONS, *IGNORED_VOLUME_OPTIONS):
            raise InvalidArgument(f"invalid volume specification: '{spec}': unknown option {option!r}")
    if source.startswith("."):
        source = os.path.abspath(source)  # Docker 23+: ./dir, . and ../dir are from the current directory
    if source.startswith("/"):
        return MountSpec(BIND, target, source, readonly, propagation, create_host_path=True)
    if source.startswith("~"):
        raise InvalidArgument(f"invalid volume specification: '{spec}': the host path must be absolute")
    return MountSpec(VOLUME, target, source, readonly, no_copy="nocopy" in options)


def parse_mount(spec: str) -> MountSpec:
    """--mount: Docker's comma-separated key=value fields (keys in any case)."""
    fields = _mount_fields(spec)
    kind = fields.pop("type", VOLUME).lower()
    target = fields.pop("target", "")
    if not target:
        raise InvalidArgument(f"invalid mount {spec!r}: target is required")
    source = fields.pop("source", "")
    readonly = _pop_bool(fields, "readonly")
    if kind == BIND:
        mount = _bind_mount(spec, target, source, fields)
    elif kind == VOLUME:
        mount = MountSpec(VOLUME, target, source, no_copy=_pop_bool(fields, "volume-nocopy"))
    elif kind == TMPFS:
        mount = _tmpfs_mount(spec, target, source, fields)
    else:
        raise InvalidArgument(f"invalid mount type {kind!r}", hint="use bind, volume or tmpfs")
    fields.pop("consistency", None)
    if fields:
        raise InvalidArgument(f"invalid mount {spec!r}: unexpected key {next(iter(fields))!r}")
    return dataclasses.replace(mount, readonly=readonly)


def _mount_fields(spec: str) -> dict[str, str]:
    """The fields by their main key name; booleans are checked here, where the key is as written."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq and key not in BARE_MOUNT_KEYS:
            raise InvalidArgument(f"invalid mount {spec!r}: field {item!r} must be a key=value pair")
        if eq and key in BARE_MOUNT_KEYS:
            _go_bool(value, key)
        fields[MOUNT_KEY_ALIASES.get(key, key)] = value if eq else "true"
    return fields


def _pop_bool(fields: dict[str, str], key: str) -> bool:
    return go_bool(fields.pop(key)) if key in fields else False  # checked by _mount_fields


def _bind_mount(spec: str, target: str, source: str, fields: dict[str, str]) -> MountSpec:
    if not source:
        raise InvalidArgument(f"invalid mount {spec!r}: source is required for a bind mount")
    if source == "." or source.startswith("./"):
        source = os.path.abspath(source)  # as docker/cli does for --mount
    propagation = fields.pop("bind-propagation", "").lower()
    if propagation and propagation not in PROPAGATIONS:
        raise InvalidArgument(
            f"invalid propagation mode: {propagation}", hint=f"use one of {', '.join(PROPAGATIONS)}"
        )
    return MountSpec(BIND, target, source, propagation=propagation)


def _tmpfs_mount(spec: str, target: str, source: str, fields: dict[str, str]) -> MountSpec:
    if source:
        # Docker's daemon: 'invalid mount config for type "tmpfs": field Source must not be specified'
        raise InvalidArgument(f"invalid mount {spec!r}: a tmpfs mount takes no source ({source!r})")
    size = fields.pop("tmpfs-size", None)
    mode = fields.pop("tmpfs-mode", None)
    return MountSpec(
        TMPFS,
        target,
        tmpfs_size=None if size is None else parse_bytes(size),
        tmpfs_mode=None if mode is None else octal_mode(mode, "tmpfs-mode"),
    )


def parse_ulimit(spec: str) -> Ulimit:
    name, eq, values = spec.partition("=")
    if not eq:
        raise InvalidArgument(
            f"invalid ulimit argument: {spec}", hint="use NAME=SOFT[:HARD], e.g. nofile=1024:2048"
        )
    soft_text, colon, hard_text = values.partition(":")
    soft = go_int(soft_text)
    hard = go_int(hard_text) if colon else soft  # "nofile=1:" has an empty hard limit: an error
    if soft is None or hard is None:
        raise InvalidArgument(f"invalid ulimit argument: {spec}")
    return Ulimit(name, soft, hard)


def parse_device(spec: str) -> DeviceRequest:
    parts = spec.split(":")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    access = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    if not set(access) <= set("rwm"):
        raise InvalidArgument(f"invalid device mode {access!r} in {spec!r}")
    return DeviceRequest(host, container, access)


def parse_restart(spec: str) -> RestartPolicy:
    return RestartPolicy.parse(spec)


def parse_label(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    if not key:
        raise InvalidArgument(f"invalid label {item!r}")
    return key, value


def parse_health(args: argparse.Namespace) -> HealthConfig | None:
    """As docker/cli: any --health-* option makes a HealthConfig. Without --health-cmd its test
    is empty, and the engine keeps the image's HEALTHCHECK command with these settings."""
    health = HealthConfig(
        ["CMD-SHELL", args.health_cmd] if args.health_cmd else [],
        interval=_optional_duration(args.health_interval),
        timeout=_optional_duration(args.health_timeout),
        retries=args.health_retries or 0,
        start_period=_optional_duration(args.health_start_period),
        start_interval=_optional_duration(args.health_start_interval),
    )
    given = health != HealthConfig([])  # a zero (0s) counts as not given, as in Docker
    if given and args.no_healthcheck:
        raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
    if health.retries < 0:
        raise InvalidArgument(f"--health-retries cannot be negative: {health.retries}")
    return health if given else None


def _optional_duration(text: str | None) -> float:
    return parse_duration(text) if text else 0.0


def config_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> ContainerConfig:
    """The flags, checked; env is the caller's environment, for KEY given without a value."""
    mounts = [parse_volume(v) for v in args.volume] + [parse_mount(m) for m in args.mount]
    mounts += [parse_tmpfs(t) for t in args.tmpfs]
    restart = parse_restart(args.restart)
    no_new_privileges, seccomp = parse_security_opts(args.security_opt)
    log_size, log_files = parse_log_opts(args.log_opt)
    network = NetworkMode.parse(args.network)
    swap = None
    if args.memory_swap:
        swap = -1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap, "memory-swap")
    if args.platform:
        check_platform(args.platform)
    entrypoint = None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [])
    return ContainerConfig(
        image=args.image,
        entrypoint=entrypoint,
        cmd=list(args.command) if args.command else None,
        env=environment(args.env_file, args.env, env),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        labels=dict(parse_label(item) for item in args.label),
        tty=args.tty,
        open_stdin=args.interactive,
        stdin_once=args.interactive and not getattr(args, "detach", False),
        mounts=mounts,
        read_only=args.read_only,
        network=network,
        network_aliases=args.network_alias,
        ip=args.ip,
        mac_address=mac_address(args.mac_address),
        publish=_publish(args.publish),
        publish_all=args.publish_all,
        expose=args.expose,
        dns=args.dns,
        dns_search=args.dns_search,
        dns_options=args.dns_option,
        extra_hosts=args.add_host,
        resources=Resources(
            memory=parse_bytes(args.memory, "memory") if args.memory else None,
            memory_swap=swap,
            cpus=args.cpus,
            cpu_shares=args.cpu_shares,
            pids_limit=args.pids_limit,
        ),
        ulimits=[parse_ulimit(u) for u in args.ulimit],
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        privileged=args.privileged,
        no_new_privileges=no_new_privileges,
        seccomp=seccomp,
        devices=[parse_device(d) for d in args.device],
        restart=restart,
        init=args.init,
        stop_signal=args.stop_signal,
        stop_timeout=args.stop_timeout,
        healthcheck=parse_health(args),
        no_healthcheck=args.no_healthcheck,
        runtime=args.runtime,
        log_max_size=log_size,
        log_max_files=log_files,
        auto_remove=getattr(args, "rm", False),
        sysctls=dict(parse_label(s) for s in args.sysctl),
    )


def _publish(items: list[str]) -> list[PortSpec]:
    from cove.engine.requests import parse_publish

    return [spec for item in items for spec in parse_publish(item)]

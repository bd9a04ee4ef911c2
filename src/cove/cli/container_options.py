"""The flags of ``run`` and ``create`` (Docker's), turned into a ContainerConfig."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from cove.cli.parser import go_bool
from cove.containers.model import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    DeviceRequest,
    HealthConfig,
    MountSpec,
    Resources,
    Ulimit,
)
from cove.errors import InvalidArgument
from cove.units import parse_bytes, parse_duration

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
IGNORED_VOLUME_OPTIONS = ("z", "Z", "consistent", "cached", "delegated", "rw")


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
    add("--network", "--net", default="default", help="none, host (bridge networks come later)")
    add("--dns", action="append", default=[], help="set custom DNS servers")
    add("--dns-search", action="append", default=[], help="set custom DNS search domains")
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
    add("--pull", default="missing", choices=("missing", "always", "never"), help="pull image before running")
    add("--cidfile", help="write the container ID to the file")
    add("--log-opt", action="append", default=[], metavar="max-size=SIZE|max-file=N", help="log options")
    add("--runtime", help="OCI runtime to use for this container (crun, runc, or a path)")
    add("--platform", help="set platform (only the host's is supported)")
    add("--sysctl", action="append", default=[], help="sysctl options (KEY=VALUE)")
    add("image", metavar="IMAGE")
    add("command", nargs=argparse.REMAINDER, metavar="[COMMAND] [ARG...]")


def _env_item(item: str, env: dict[str, str]) -> str | None:
    if "=" in item:
        return item
    return f"{item}={env[item]}" if item in env else None  # KEY alone: take it from here, if set


def read_env_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror}") from None
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        item = _env_item(line, dict(os.environ))
        if item is not None:
            out.append(item)
    return out


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
    if source.startswith("/"):
        return MountSpec(BIND, target, source, readonly, propagation, create_host_path=True)
    if source.startswith((".", "~")):
        raise InvalidArgument(f"invalid volume specification: '{spec}': the host path must be absolute")
    return MountSpec(VOLUME, target, source, readonly, no_copy="nocopy" in options)


def parse_mount(spec: str) -> MountSpec:
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        fields[key.strip().lower()] = value if eq else "true"
    kind = fields.pop("type", VOLUME)
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    if not target:
        raise InvalidArgument(f"invalid mount {spec!r}: target is required")
    source = fields.pop("source", "") or fields.pop("src", "")
    readonly = go_bool(fields.pop("readonly", fields.pop("ro", "false")))
    if kind == BIND:
        if not source:
            raise InvalidArgument(f"invalid mount {spec!r}: source is required for a bind mount")
        mount = MountSpec(BIND, target, source, readonly, fields.pop("bind-propagation", ""))
    elif kind == VOLUME:
        mount = MountSpec(
            VOLUME, target, source, readonly, no_copy=go_bool(fields.pop("volume-nocopy", "false"))
        )
    elif kind == TMPFS:
        size = fields.pop("tmpfs-size", None)
        mode = fields.pop("tmpfs-mode", None)
        mount = MountSpec(TMPFS, target, tmpfs_size=parse_bytes(size) if size else None,
                          tmpfs_mode=int(mode, 8) if mode else None)  # fmt: skip
    else:
        raise InvalidArgument(f"invalid mount type {kind!r}", hint="use bind, volume or tmpfs")
    fields.pop("consistency", None)
    if fields:
        raise InvalidArgument(f"invalid mount {spec!r}: unexpected key {next(iter(fields))!r}")
    return mount


def parse_tmpfs(spec: str) -> MountSpec:
    target, _, options = spec.partition(":")
    size = mode = None
    for option in options.split(",") if options else []:
        key, _, value = option.partition("=")
        if key == "size":
            size = parse_bytes(value)
        elif key == "mode":
            mode = int(value, 8)
    return MountSpec(TMPFS, target, propagation="flag", tmpfs_size=size, tmpfs_mode=mode)


def parse_ulimit(spec: str) -> Ulimit:
    name, eq, values = spec.partition("=")
    if not eq:
        raise InvalidArgument(
            f"invalid ulimit argument: {spec}", hint="use NAME=SOFT[:HARD], e.g. nofile=1024:2048"
        )
    soft, _, hard = values.partition(":")
    try:
        return Ulimit(name, int(soft), int(hard or soft))
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {spec}") from None


def parse_device(spec: str) -> DeviceRequest:
    parts = spec.split(":")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    access = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    if not set(access) <= set("rwm"):
        raise InvalidArgument(f"invalid device mode {access!r} in {spec!r}")
    return DeviceRequest(host, container, access)


def parse_restart(spec: str) -> tuple[str, int]:
    name, _, count = spec.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(
            f"invalid restart policy {spec!r}", hint="use no, always, unless-stopped or on-failure[:N]"
        )
    if count and (name != "on-failure" or not count.isdigit()):
        raise InvalidArgument(f"invalid restart policy {spec!r}: only on-failure takes a count")
    return name, int(count or 0)


def parse_label(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    if not key:
        raise InvalidArgument(f"invalid label {item!r}")
    return key, value


def config_from_args(args: argparse.Namespace, env: dict[str, str]) -> ContainerConfig:
    from cove.runtime.seccomp import read_profile

    environment = [item for item in (_env_item(e, env) for e in args.env) if item is not None]
    for path in args.env_file:
        environment = read_env_file(path) + environment
    mounts = [parse_volume(v) for v in args.volume] + [parse_mount(m) for m in args.mount]
    mounts += [parse_tmpfs(t) for t in args.tmpfs]
    restart, retries = parse_restart(args.restart)
    no_new_privileges = False
    seccomp = "default"
    for opt in args.security_opt:
        key, sep, value = re.split(r"([=:])", opt, maxsplit=1) if re.search(r"[=:]", opt) else (opt, "", "")
        if key == "no-new-privileges":
            no_new_privileges = go_bool(value) if sep else True
        elif key == "seccomp":
            seccomp = "unconfined" if value == "unconfined" else read_profile(Path(value))
        elif (key, value) in (("apparmor", "unconfined"), ("label", "disable")):
            pass  # cove sets neither AppArmor nor SELinux labels
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}",
                                  hint="use no-new-privileges or seccomp=unconfined|FILE")  # fmt: skip
    health = None
    if args.health_cmd:
        health = HealthConfig(
            ["CMD-SHELL", args.health_cmd],
            interval=parse_duration(args.health_interval) if args.health_interval else 0.0,
            timeout=parse_duration(args.health_timeout) if args.health_timeout else 0.0,
            retries=args.health_retries or 0,
            start_period=parse_duration(args.health_start_period) if args.health_start_period else 0.0,
            start_interval=parse_duration(args.health_start_interval) if args.health_start_interval else 0.0,
        )
    log_size = log_files = None
    for opt in args.log_opt:
        key, _, value = opt.partition("=")
        if key == "max-size":
            log_size = parse_bytes(value, "log max-size")
        elif key == "max-file":
            log_files = int(value)
        else:
            raise InvalidArgument(
                f"unknown log opt {key!r} for json-file log driver", hint="use max-size or max-file"
            )
    network = {"default": "private", "bridge": "private"}.get(args.network, args.network)
    swap = None
    if args.memory_swap:
        swap = -1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap, "memory-swap")
    if args.platform and args.platform not in ("linux", f"linux/{_host_arch()}"):
        raise InvalidArgument(f"platform {args.platform} is not this host's (linux/{_host_arch()})")
    entrypoint = None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [])
    return ContainerConfig(
        image=args.image,
        entrypoint=entrypoint,
        cmd=list(args.command) if args.command else None,
        env=environment,
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
        dns=args.dns,
        dns_search=args.dns_search,
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
        restart_max_retries=retries,
        init=args.init,
        stop_signal=args.stop_signal,
        stop_timeout=args.stop_timeout,
        healthcheck=health,
        no_healthcheck=args.no_healthcheck,
        runtime=args.runtime,
        log_max_size=log_size,
        log_max_files=log_files,
        auto_remove=getattr(args, "rm", False),
        sysctls=dict(parse_label(s) for s in args.sysctl),
    )


def _host_arch() -> str:
    from cove.oci.platform import host_platform

    return host_platform().architecture

"""The OCI runtime spec for one container: image defaults, the user's options, Docker's rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.containers.model import BIND, ContainerConfig, NetworkKind
from cove.containers.users import ResolvedUser
from cove.errors import InvalidArgument
from cove.host import sysinfo
from cove.runtime import caps as capabilities
from cove.runtime import seccomp
from cove.runtime import spec as oci
from cove.units import parse_signal

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_PATH = "/sbin/docker-init"
ETC_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
RLIMITS = (
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD = 100_000  # microseconds, Docker's CFS period for --cpus
NANO = 1_000_000_000


@dataclass(frozen=True)
class HostMount:
    """A mount with its host source resolved (volume directories, bind paths, tmpfs)."""

    type: str
    source: str
    target: str
    options: tuple[str, ...]


def command(config: ContainerConfig, image: dict[str, Any]) -> list[str]:
    """Entrypoint + command, as Docker combines the image's and the user's."""
    if config.entrypoint is not None:
        entrypoint = [e for e in config.entrypoint if e != ""]
        cmd = config.cmd or []
    else:
        entrypoint = list(image.get("Entrypoint") or [])
        cmd = config.cmd if config.cmd is not None else list(image.get("Cmd") or [])
    args = entrypoint + cmd
    if not args:
        raise InvalidArgument("no command specified", hint="give a command after the image name")
    return args


def environment(
    config: ContainerConfig, image: dict[str, Any], hostname: str, user: ResolvedUser
) -> list[str]:
    merged: dict[str, str] = {}
    for item in image.get("Env") or []:
        key, _, value = item.partition("=")
        merged[key] = value
    for item in config.env:
        key, eq, value = item.partition("=")
        if eq:
            merged[key] = value
        else:  # a name alone unsets it, the image's value too (Docker's daemon; compose sends these)
            merged.pop(key, None)
    env = {"PATH": DEFAULT_PATH.split("=", 1)[1], "HOSTNAME": hostname}
    env.update(merged)
    if config.tty:
        env.setdefault("TERM", "xterm")
    env.setdefault("HOME", user.home or "/")
    return [f"{k}={v}" for k, v in env.items()]


def working_dir(config: ContainerConfig, image: dict[str, Any]) -> str:
    cwd = config.workdir or image.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    return cwd


def stop_signal(config: ContainerConfig, image: dict[str, Any]) -> int:
    return parse_signal(config.stop_signal or image.get("StopSignal") or "SIGTERM")


def rlimits(
    config: ContainerConfig, hard_limit: Callable[[str], int | None] = sysinfo.hard_rlimit
) -> list[oci.Rlimit]:
    """The container's ulimits, each within the host's hard limit (``hard_limit`` of a name:
    None when unlimited)."""
    out = []
    for limit in config.ulimits:
        if limit.name not in RLIMITS:
            raise InvalidArgument(f"invalid ulimit type: {limit.name}")
        if limit.soft > limit.hard:
            raise InvalidArgument(
                f"ulimit {limit.name}: soft limit {limit.soft} is above the hard limit {limit.hard}"
            )
        host_hard = hard_limit(limit.name)
        if host_hard is not None and limit.hard > host_hard:
            raise InvalidArgument(
                f"ulimit {limit.name}={limit.soft}:{limit.hard} is above "
                f"this host's hard limit ({host_hard})",
                hint=f"use at most {host_hard}",
            )
        out.append(oci.Rlimit(f"RLIMIT_{limit.name.upper()}", limit.soft, limit.hard))
    return out


def resources(config: ContainerConfig, cpus_available: int) -> oci.Resources:
    """Docker's resource rules; 0 means unset for memory-swap, cpus and pids-limit, as in Docker."""
    r = config.resources
    if r.memory is not None and r.memory < MIN_MEMORY:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    swap = r.memory_swap or None
    if swap is not None and swap != -1:
        if r.memory is None:
            raise InvalidArgument("you should always set a memory limit when using a memory-swap limit")
        if swap < r.memory:
            raise InvalidArgument("minimum memory-swap limit should be larger than memory limit")
    quota = cpu_quota(r.cpus, cpus_available) if r.cpus else None
    # Docker takes 0 and any negative pids limit as unlimited.
    pids = r.pids_limit if r.pids_limit is not None and r.pids_limit > 0 else None
    return oci.Resources(
        memory=r.memory,
        memory_swap=swap,
        cpu_quota=quota,
        cpu_period=CPU_PERIOD if quota else None,
        cpu_shares=r.cpu_shares,
        pids_limit=pids,
    )


def cpu_quota(cpus: float, cpus_available: int) -> int:
    """--cpus as a CFS quota over CPU_PERIOD microseconds."""
    # Docker counts in whole nano-CPUs: 0.29 is 290_000_000 of them, a 29_000us quota, where
    # int(0.29 * 100_000) would give 28_999.
    nano_cpus = round(cpus * NANO)
    if not NANO // 100 <= nano_cpus <= cpus_available * NANO:
        raise InvalidArgument(f"range of CPUs is from 0.01 to {cpus_available:.2f}, as there are only "
                              f"{cpus_available} CPUs available")  # fmt: skip
    return nano_cpus * CPU_PERIOD // NANO


def mount_entries(mounts: list[HostMount]) -> list[dict[str, Any]]:
    # Parents before children: /data before /data/cache.
    ordered = sorted(mounts, key=lambda m: len([p for p in m.target.split("/") if p]))
    return [
        {"destination": m.target, "type": m.type, "source": m.source, "options": list(m.options)}
        for m in ordered
    ]


def bind_options(readonly: bool, propagation: str = "") -> tuple[str, ...]:
    return ("rbind", "ro" if readonly else "rw", propagation or "rprivate")


def tmpfs_options(
    size: int | None,
    mode: int | None,
    from_flag: bool,
    *,
    readonly: bool = False,
    extra: Sequence[str] = (),
) -> tuple[str, ...]:
    """A tmpfs mount's options: Docker's defaults, then the user's (later ones win: ``exec``
    after the default ``noexec`` of --tmpfs)."""
    options = ["nosuid", "nodev"] + (["noexec"] if from_flag else [])
    if readonly:
        options.append("ro")
    if size:
        options.append(f"size={size}")
    if mode is not None:
        options.append(f"mode={mode:o}")
    options += extra
    return tuple(options)


def seccomp_profile(config: ContainerConfig, caps: list[str]) -> dict[str, Any] | None:
    if config.seccomp == "unconfined":
        return None
    if config.seccomp != "default":  # a profile's JSON text
        return seccomp.profile_from_text(config.seccomp, caps)
    # --privileged turns off the default profile only: one given by file still applies (Docker 27+).
    return None if config.privileged else seccomp.default_profile(caps)


def build(
    *,
    container_id: str,
    config: ContainerConfig,
    image: dict[str, Any],
    rootfs: Path,
    hostname: str,
    user: ResolvedUser,
    mounts: list[HostMount],
    etc_dir: Path,
    cgroup_version: int,
    cpus_available: int,
    init_binary: str | None,
    known_caps: tuple[str, ...],
    netns_path: str | None = None,
    hard_limit: Callable[[str], int | None] = sysinfo.hard_rlimit,
) -> dict[str, Any]:
    spec = oci.base_spec(
        rootfs=str(rootfs),
        hostname=hostname,
        cgroups_path=f"/cove/{container_id}",
        cgroup_version=cgroup_version,
    )
    args = command(config, image)
    if config.init:
        if init_binary is None:
            raise InvalidArgument("--init needs tini on the host", hint="apt-get install tini")
        args = [INIT_PATH, "--", *args]
    oci.with_process(
        spec,
        args=args,
        env=environment(config, image, hostname, user),
        cwd=working_dir(config, image),
        uid=user.uid,
        gid=user.gid,
        additional_gids=user.additional_gids,
        terminal=config.tty,
        no_new_privileges=config.no_new_privileges,
        rlimits=rlimits(config, hard_limit),
    )
    caps = capabilities.effective_caps(
        config.cap_add, config.cap_drop, privileged=config.privileged, known=known_caps
    )
    oci.with_capabilities(spec, caps)
    oci.with_seccomp(spec, seccomp_profile(config, caps))
    user_targets = {m.target for m in mounts}
    extra = [
        HostMount(BIND, str(etc_dir / name.rsplit("/", 1)[1]), name, bind_options(False))
        for name in ETC_FILES
        if name not in user_targets
    ]
    if config.init and init_binary is not None:
        extra.append(HostMount(BIND, init_binary, INIT_PATH, bind_options(True)))
    oci.with_mounts(spec, mount_entries(extra + mounts))
    oci.with_resources(spec, resources(config, cpus_available))
    if config.privileged:
        oci.with_privileged(spec)
    oci.with_devices(spec, [oci.Device(d.host_path, d.container_path, d.access) for d in config.devices])
    if config.read_only:
        oci.with_readonly_rootfs(spec)
    if config.network.kind is NetworkKind.HOST:
        oci.with_host_network(spec)
    elif netns_path is not None:
        oci.with_network_namespace(spec, netns_path)
    oci.with_sysctls(spec, config.sysctls)
    return spec

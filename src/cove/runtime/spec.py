"""The OCI runtime spec (config.json) cove writes: Docker's defaults, then small option functions.

``base_spec`` gives what every container starts from (Docker's mounts, masked and
read-only paths, device rules, namespaces); the ``with_*`` functions each change one
aspect. All of them work on the plain JSON dict the runtime reads.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.host.trees import walk

OCI_VERSION = "1.0.2"

# /proc/interrupts and thermal_throttle counters leak the host's activity (Docker 28.0.2,
# GHSA-6fw5-f8r9-fgfm); powercap, its energy use (GHSA-jq35-85cj-fj4p).
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (type, major, minor): the devices every container may use, as in Docker.
DEFAULT_DEVICE_RULES = (
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
    ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, None, "rwm"),
    ("c", 10, 200, "rwm"),
)  # fmt: skip


@dataclass(frozen=True)
class Resources:
    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes of memory plus swap; -1 for unlimited
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        memory: dict[str, int] = {}
        if self.memory is not None:
            memory["limit"] = self.memory
            # Docker's rule: with a memory limit and no swap setting, swap may double it.
            memory["swap"] = self.memory_swap if self.memory_swap is not None else 2 * self.memory
        elif self.memory_swap is not None:
            memory["swap"] = self.memory_swap
        if memory:
            out["memory"] = memory
        cpu: dict[str, int] = {}
        if self.cpu_quota is not None:
            cpu["quota"] = self.cpu_quota
            cpu["period"] = self.cpu_period or 100_000
        if self.cpu_shares is not None:
            cpu["shares"] = self.cpu_shares
        if cpu:
            out["cpu"] = cpu
        if self.pids_limit is not None:
            out["pids"] = {"limit": self.pids_limit}
        return out


@dataclass(frozen=True)
class Device:
    host_path: str
    container_path: str
    access: str = "rwm"


@dataclass(frozen=True)
class Rlimit:
    name: str  # RLIMIT_NOFILE
    soft: int
    hard: int


def _device_rule(
    kind: str, major: int | None, minor: int | None, access: str, allow: bool = True
) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": allow, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


def masked_paths(sys_root: str = "/sys") -> list[str]:
    """MASKED_PATHS plus each CPU's thermal_throttle directory that this host has."""
    cpus = Path(sys_root, "devices/system/cpu")
    numbers = sorted(
        int(d.name[3:])
        for d in cpus.glob("cpu*")
        if d.name[3:].isdigit() and (d / "thermal_throttle").is_dir()
    )
    return [*MASKED_PATHS, *(f"/sys/devices/system/cpu/cpu{n}/thermal_throttle" for n in numbers)]


def _mount(destination: str, kind: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def base_spec(*, rootfs: str, hostname: str, cgroups_path: str, cgroup_version: int) -> dict[str, Any]:
    """What Docker gives every container before its own options."""
    namespaces = [{"type": t} for t in ("mount", "network", "uts", "pid", "ipc")]
    if cgroup_version == 2:
        namespaces.append({"type": "cgroup"})  # Docker's default: a private cgroup namespace on v2
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": [],
            "env": [],
            "cwd": "/",
            "capabilities": {},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": [
            _mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            _mount(
                "/dev/pts",
                "devpts",
                "devpts",
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ),
            _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            _mount("/sys/fs/cgroup", "cgroup", "cgroup", "ro", "nosuid", "noexec", "nodev"),
            _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=67108864"),
        ],
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": masked_paths(),
            "readonlyPaths": list(READONLY_PATHS),
            "cgroupsPath": cgroups_path,
            "resources": {
                "devices": [_device_rule("a", None, None, "rwm", allow=False)]
                + [_device_rule(*rule) for rule in DEFAULT_DEVICE_RULES],
            },
        },
    }


def with_process(
    spec: dict[str, Any],
    *,
    args: Sequence[str],
    env: Sequence[str],
    cwd: str,
    uid: int,
    gid: int,
    additional_gids: Sequence[int] = (),
    terminal: bool = False,
    no_new_privileges: bool = False,
    rlimits: Sequence[Rlimit] = (),
) -> None:
    process = spec["process"]
    process["args"] = list(args)
    process["env"] = list(env)
    process["cwd"] = cwd
    process["terminal"] = terminal
    process["user"] = {"uid": uid, "gid": gid}
    if additional_gids:
        process["user"]["additionalGids"] = list(additional_gids)
    process["noNewPrivileges"] = no_new_privileges
    if rlimits:
        process["rlimits"] = [{"type": r.name, "soft": r.soft, "hard": r.hard} for r in rlimits]


def with_capabilities(spec: dict[str, Any], caps: Iterable[str]) -> None:
    names = list(caps)
    # Docker leaves "inheritable" empty so that exec'd programs cannot inherit file caps (CVE-2022-24769).
    spec["process"]["capabilities"] = {"bounding": names, "effective": names, "permitted": names}


def with_seccomp(spec: dict[str, Any], profile: dict[str, Any] | None) -> None:
    if profile is None:
        spec["linux"].pop("seccomp", None)
    else:
        spec["linux"]["seccomp"] = profile


def with_mounts(spec: dict[str, Any], mounts: Iterable[dict[str, Any]]) -> None:
    """Add mounts; one on a default mount's destination replaces it (e.g. --tmpfs /dev/shm)."""
    extra = list(mounts)
    targets = {m["destination"] for m in extra}
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in targets] + extra


def with_resources(spec: dict[str, Any], resources: Resources) -> None:
    spec["linux"]["resources"].update(resources.to_spec())


def device_numbers(path: str) -> tuple[str, int, int, int]:
    """(type c|b, major, minor, mode) of a device node on the host."""
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise ValueError(f"{path} is not a device")
    return kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)


def with_devices(spec: dict[str, Any], devices: Iterable[Device]) -> None:
    for device in devices:
        kind, major, minor, mode = device_numbers(device.host_path)
        spec["linux"].setdefault("devices", []).append(
            {"path": device.container_path, "type": kind, "major": major, "minor": minor, "fileMode": mode,
             "uid": 0, "gid": 0}
        )  # fmt: skip
        spec["linux"]["resources"]["devices"].append(_device_rule(kind, major, minor, device.access))


def host_devices(root: str = "/dev") -> list[Device]:
    """Every device node under /dev, as --privileged gives them."""
    found = []
    skipped = ("pts", "shm", "mqueue", "fd")
    for entry in walk(root, descend=lambda e: e.name not in skipped):
        mode = entry.stat.st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            path = os.path.join(root, entry.rel)
            if path in ("/dev/console", "/dev/ptmx", "/dev/tty"):
                continue  # the container has its own
            found.append(Device(path, path))
    return found


def with_privileged(spec: dict[str, Any]) -> None:
    """No masked paths, a writable /sys, and every device (the caller adds all capabilities)."""
    linux = spec["linux"]
    linux["maskedPaths"] = []
    linux["readonlyPaths"] = []
    for mount in spec["mounts"]:
        if mount["destination"] in ("/sys", "/sys/fs/cgroup"):
            mount["options"] = [o for o in mount["options"] if o != "ro"] + ["rw"]
    with_devices(spec, host_devices())
    linux["resources"]["devices"] = [_device_rule("a", None, None, "rwm")]


def with_readonly_rootfs(spec: dict[str, Any]) -> None:
    spec["root"]["readonly"] = True


def with_host_network(spec: dict[str, Any]) -> None:
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]


def with_network_namespace(spec: dict[str, Any], path: str) -> None:
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = path


def with_sysctls(spec: dict[str, Any], sysctls: dict[str, str]) -> None:
    if sysctls:
        spec["linux"]["sysctl"] = dict(sysctls)

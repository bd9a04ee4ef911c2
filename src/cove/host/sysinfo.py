"""Facts about the host for `cove info`: kernel, distribution, CPUs, memory."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def kernel_version() -> str:
    return os.uname().release


def operating_system() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return os.uname().sysname


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def total_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def hostname() -> str:
    return os.uname().nodename


def cap_last_cap() -> int | None:
    """The number of the last capability this kernel knows; None when unreadable."""
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return None


def bounding_set() -> int | None:
    """This process's capability bounding set (a bit per capability); None when unreadable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def hard_rlimit(name: str) -> int | None:
    """This process's hard limit on resource ``name`` (nofile, nproc, ...), which a container's
    ulimit may not exceed; None when it is unlimited, or not a limit of this platform."""
    const = getattr(resource, f"RLIMIT_{name.upper()}", None)
    if const is None:
        return None
    _, hard = resource.getrlimit(const)
    return None if hard == resource.RLIM_INFINITY else hard

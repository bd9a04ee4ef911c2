"""The host's cgroup layout: which version, where a container's cgroup is, what it reports."""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP2_SUPER_MAGIC_FILE = "cgroup.controllers"  # present only at the root of a cgroup2 mount


def version(root: Path = CGROUP_ROOT) -> int:
    """2 when /sys/fs/cgroup is the unified hierarchy, else 1 (including hybrid hosts)."""
    return 2 if (root / CGROUP2_SUPER_MAGIC_FILE).exists() else 1


def is_hybrid(root: Path = CGROUP_ROOT) -> bool:
    return version(root) == 1 and (root / "unified").is_dir()


def controller_dir(controller: str, cgroup_path: str, root: Path = CGROUP_ROOT) -> Path:
    """Where a controller's files for ``cgroup_path`` (e.g. /cove/<id>) are."""
    rel = cgroup_path.lstrip("/")
    if version(root) == 2:
        return root / rel
    return root / controller / rel


def read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def oom_kills(cgroup_path: str, root: Path = CGROUP_ROOT) -> int:
    """How many processes the OOM killer took in this cgroup (0 when unknown)."""
    if version(root) == 2:
        source = controller_dir("memory", cgroup_path, root) / "memory.events"
    else:
        source = controller_dir("memory", cgroup_path, root) / "memory.oom_control"
    try:
        for line in source.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def leftover_dirs(cgroup_path: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Every directory for ``cgroup_path`` that still exists, in any hierarchy."""
    rel = cgroup_path.lstrip("/")
    if version(root) == 2:
        candidates = [root / rel]
    else:
        candidates = [Path(entry.path) / rel for entry in os.scandir(root) if entry.is_dir()]
    return [p for p in candidates if p.is_dir()]


def procs(cgroup_path: str, root: Path = CGROUP_ROOT) -> list[int]:
    """PIDs in the container's cgroup (from the pids controller on v1)."""
    path = controller_dir("pids", cgroup_path, root) / "cgroup.procs"
    try:
        return [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return []

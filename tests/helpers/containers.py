"""Checks that containers leave nothing behind, and small waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def cgroup_dirs(cid: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    found = []
    for candidate in [root / "cove" / cid, *(p / "cove" / cid for p in root.iterdir() if p.is_dir())]:
        if candidate.is_dir():
            found.append(candidate)
    return found


def processes_mentioning(text: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            out.append(f"{proc.name}: {cmdline}")
    return out


def assert_no_traces(root: Path, cid: str) -> None:
    """After rm: no mount, cgroup, process or directory of the container is left."""
    assert mounts_mentioning(cid) == [], mounts_mentioning(cid)
    assert cgroup_dirs(cid) == [], cgroup_dirs(cid)
    assert processes_mentioning(cid) == [], processes_mentioning(cid)
    assert not (root / "containers" / cid).exists()


def command_servers_of(root: Path) -> list[int]:
    """The PIDs of cove command servers serving the store at ``root`` (found by environment)."""
    wanted = f"COVE_ROOT={root}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"cove.cli.cmd_server" not in (proc / "cmdline").read_bytes():
                continue
            if wanted in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found

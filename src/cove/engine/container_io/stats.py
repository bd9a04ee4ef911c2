"""``cove stats``: one reading of CPU, memory, network, block I/O and PIDs per container.

A reading that could not be taken is unknown (None), never zero: a container that stopped
between the two samples, a runtime that could not read its cgroup, or a section missing from
what the runtime reported. The command line shows unknown readings as Docker's ``--``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cove.containers.store import ContainerRecord
from cove.engine.containers import ContainerService
from cove.errors import CoveError
from cove.host.seam import Host

Sample = dict[str, Any]  # the runtime's `events --stats` JSON for one container


@dataclass(frozen=True)
class Stats:
    id: str
    name: str
    cpu_percent: float | None
    memory_usage: int | None
    memory_limit: int | None
    net_rx: int | None
    net_tx: int | None
    block_read: int | None
    block_write: int | None
    pids: int | None
    error: str = ""  # why the runtime's readings are unknown, when they are


class StatsReader:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def _sample(self, record: ContainerRecord) -> Sample | CoveError:
        try:
            return self.c.runtime_of(record).stats(record.id)
        except CoveError as exc:  # (the container stopped meanwhile, say): its readings are unknown
            return exc

    def stats(self, refs: list[str] | None = None) -> list[Stats]:
        """One reading for each running container (CPU over half a second, as `docker stats`)."""
        containers = [self.c.get(r) for r in refs] if refs else self.c.list_containers()
        running = [c for c in containers if c.status.running]
        host = self.store.host
        first = {c.record.id: (self._sample(c.record), _system_cpu_ns(host)) for c in running}
        time.sleep(0.5)
        out = []
        for c in running:
            before, system_before = first[c.record.id]
            after = self._sample(c.record)
            system_delta = _system_cpu_ns(host) - system_before
            out.append(
                reading(
                    c.record.id,
                    c.record.name,
                    before,
                    after,
                    system_delta=system_delta,
                    cpus=host.online_cpus(),
                    host_memory=host.total_memory(),
                    net=_net_bytes(host, c.status.pid),
                )
            )
        return out


def reading(
    cid: str,
    name: str,
    before: Sample | CoveError,
    after: Sample | CoveError,
    *,
    system_delta: int,
    cpus: int,
    host_memory: int,
    net: tuple[int, int] | None,
) -> Stats:
    """One container's readings from two samples half a second apart (pure)."""
    rx, tx = net if net is not None else (None, None)
    failed = next((s for s in (after, before) if isinstance(s, CoveError)), None)
    if failed is not None or not isinstance(before, dict) or not isinstance(after, dict):
        message = failed.message if failed is not None else "no reading"
        return Stats(cid, name, None, None, None, rx, tx, None, None, None, error=message)
    percent = None
    cpu_before, cpu_after = _cpu_total(before), _cpu_total(after)
    if cpu_before is not None and cpu_after is not None:
        cpu_delta = cpu_after - cpu_before
        percent = (cpu_delta / system_delta) * cpus * 100.0 if system_delta > 0 and cpu_delta > 0 else 0.0
    usage = limit = None
    memory = after.get("memory")
    if isinstance(memory, dict) and isinstance(memory.get("usage"), dict):
        usage = int(memory["usage"].get("usage", 0) or 0)
        stats = memory.get("stats", {}) or {}
        usage = max(0, usage - int(stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0))
        limit = int(memory["usage"].get("limit", 0) or 0)
        if not limit or limit > host_memory:
            limit = host_memory
    read = write = None
    blkio = after.get("blkio")
    if isinstance(blkio, dict):
        read = write = 0
        for entry in blkio.get("ioServiceBytesRecursive") or []:
            if entry.get("op", "").lower() == "read":
                read += int(entry.get("value", 0))
            elif entry.get("op", "").lower() == "write":
                write += int(entry.get("value", 0))
    pids_section = after.get("pids")
    pids = int(pids_section.get("current", 0) or 0) if isinstance(pids_section, dict) else None
    return Stats(cid, name, percent, usage, limit, rx, tx, read, write, pids)


def _cpu_total(data: Sample) -> int | None:
    cpu = data.get("cpu")
    if not isinstance(cpu, dict) or not isinstance(cpu.get("usage"), dict):
        return None
    return int(cpu["usage"].get("total", 0) or 0)


def _system_cpu_ns(host: Host) -> int:
    fields = host.read_proc("stat").split(b"\n", 1)[0].split()[1:8]
    ticks = sum(int(x) for x in fields)
    return int(ticks * 1e9 / host.clock_ticks())


def _net_bytes(host: Host, pid: int) -> tuple[int, int] | None:
    """Bytes received and sent on the container's interfaces but loopback; None when its
    process is gone (unknown, not zero)."""
    rx = tx = 0
    try:
        lines = host.read_proc(f"{pid}/net/dev").decode(errors="replace").splitlines()[2:]
    except OSError:
        return None
    for line in lines:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx

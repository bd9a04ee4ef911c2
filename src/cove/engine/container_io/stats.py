"""``cove stats``: one reading of CPU, memory, network, block I/O and PIDs per container."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from cove.containers.store import ContainerRecord
from cove.engine.containers import ContainerService
from cove.errors import CoveError
from cove.host.sysinfo import total_memory


@dataclass(frozen=True)
class Stats:
    id: str
    name: str
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


class StatsReader:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def _sample(self, record: ContainerRecord) -> dict[str, Any]:
        return self.c.runtime_of(record).stats(record.id)

    def stats(self, refs: list[str] | None = None) -> list[Stats]:
        """One reading for each running container (CPU over half a second, as `docker stats`)."""
        containers = [self.c.get(r) for r in refs] if refs else self.c.list_containers()
        running = [c for c in containers if c.status.running]
        first = {c.record.id: (self._sample_safe(c.record), _system_cpu_ns()) for c in running}
        time.sleep(0.5)
        out = []
        cpus = os.cpu_count() or 1
        for c in running:
            data = self._sample_safe(c.record)
            before, system_before = first[c.record.id]
            cpu_delta = _cpu_total(data) - _cpu_total(before)
            system_delta = _system_cpu_ns() - system_before
            percent = (cpu_delta / system_delta) * cpus * 100.0 if system_delta > 0 and cpu_delta > 0 else 0.0
            memory = data.get("memory", {})
            usage = int(memory.get("usage", {}).get("usage", 0))
            stats = memory.get("stats", {}) or {}
            usage -= int(stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0)
            limit = int(memory.get("usage", {}).get("limit", 0))
            total = total_memory()
            if not limit or limit > total:
                limit = total
            read = write = 0
            for entry in data.get("blkio", {}).get("ioServiceBytesRecursive") or []:
                if entry.get("op", "").lower() == "read":
                    read += int(entry.get("value", 0))
                elif entry.get("op", "").lower() == "write":
                    write += int(entry.get("value", 0))
            rx, tx = _net_bytes(c.status.pid)
            out.append(
                Stats(
                    c.record.id,
                    c.record.name,
                    percent,
                    max(0, usage),
                    limit,
                    rx,
                    tx,
                    read,
                    write,
                    int(data.get("pids", {}).get("current", 0)),
                )
            )
        return out

    def _sample_safe(self, record: ContainerRecord) -> dict[str, Any]:
        try:
            return self._sample(record)
        except CoveError:
            return {}


def _cpu_total(data: dict[str, Any]) -> int:
    return int(data.get("cpu", {}).get("usage", {}).get("total", 0) or 0)


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = sum(int(x) for x in fields)
    return int(ticks * 1e9 / os.sysconf("SC_CLK_TCK"))


def _net_bytes(pid: int) -> tuple[int, int]:
    rx = tx = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, data = line.partition(":")
            if name.strip() == "lo":
                continue
            fields = data.split()
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx

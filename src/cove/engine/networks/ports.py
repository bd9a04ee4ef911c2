"""Port binding: the host ports a starting container publishes on, kept in its ``ports.json``,
and the DNAT rules they become."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cove.engine.networks.model import StoreLock
from cove.errors import Conflict
from cove.host.seam import Host
from cove.network.ports import EPHEMERAL, Binding, PortSpec
from cove.network.rules import PortRule
from cove.network.store import NetworkStore


class PortBindings:
    def __init__(
        self, containers_dir: Path, records: NetworkStore, host: Host, lock: StoreLock,
        wired: Callable[[str], bool],
    ) -> None:  # fmt: skip
        self.containers_dir = containers_dir
        self.records = records
        self.host = host
        self.lock = lock
        self.wired = wired  # has the container (by ID) its namespace now?

    def _file(self, container_id: str) -> Path:
        return self.containers_dir / container_id / "ports.json"

    def bindings(self, container_id: str) -> list[Binding]:
        try:
            data = json.loads(self._file(container_id).read_text())
        except (OSError, ValueError):
            return []
        return [Binding(**b) for b in data]

    def bind(self, container_id: str, specs: Sequence[PortSpec]) -> list[Binding]:
        """Choose the host ports of a starting container: the given ones if free, else free ones."""
        with self.lock():
            taken = {
                (b.protocol, b.host_port)
                for e in self.records.endpoints()
                if e.container_id != container_id
                for b in self.bindings(e.container_id)
            }
            chosen: list[Binding] = []
            for spec in specs:
                binding = self._choose(spec, taken)
                taken.add((binding.protocol, binding.host_port))
                chosen.append(binding)
            path = self._file(container_id)
            if chosen or path.exists():
                tmp = path.with_name(".ports.json.tmp")
                tmp.write_text(json.dumps([dataclasses.asdict(b) for b in chosen]))
                os.replace(tmp, path)
        return chosen

    def rules(self) -> list[PortRule]:
        """The DNAT rules of the wired containers' bindings (to their first network's address)."""
        rules = []
        seen: set[str] = set()
        for endpoint in self.records.endpoints():
            cid = endpoint.container_id
            if cid in seen or endpoint.position != 0 or not self.wired(cid):
                continue
            seen.add(cid)
            for b in self.bindings(cid):
                rules.append(PortRule(b.protocol, b.host_ip, b.host_port, endpoint.ip, b.container_port))
        return rules

    def _choose(self, spec: PortSpec, taken: set[tuple[str, int]]) -> Binding:
        free = self.host.port_free
        if spec.host_port and not spec.host_port_end:
            if (spec.protocol, spec.host_port) in taken or not free(
                spec.protocol, spec.host_ip, spec.host_port
            ):
                address = f"{spec.host_ip or '0.0.0.0'}:{spec.host_port}"
                raise Conflict(
                    f"Bind for {address} failed: port is already allocated",
                    hint="publish on another host port, or stop what uses it",
                )
            return Binding(spec.container_port, spec.protocol, spec.host_ip, spec.host_port)
        first, last = (spec.host_port, spec.host_port_end) if spec.host_port else EPHEMERAL
        for port in range(first, last + 1):
            if (spec.protocol, port) not in taken and free(spec.protocol, spec.host_ip, port):
                return Binding(spec.container_port, spec.protocol, spec.host_ip, port)
        raise Conflict(f"no free host port in {first}-{last} for {spec.container_port}/{spec.protocol}")

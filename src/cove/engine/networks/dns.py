"""DNS publishing: the records file of the embedded DNS server of user-defined networks (one
process per store, ``network/dns.py``), rewritten from the store; the server started when a
network has names and stopped with the store's host objects."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from cove.db.database import Database
from cove.errors import CoveError
from cove.host.locks import FileLock
from cove.host.seam import Host
from cove.network.store import NetworkStore

# How long a publish waits for the server to listen on every gateway (a container may ask at once).
LISTEN_WAIT = 2.0
STOP_GRACE = 5.0


class DnsPublisher:
    def __init__(
        self, dns_dir: Path, state_dir: Path, db: Database, records: NetworkStore, host: Host
    ) -> None:
        self.dir = dns_dir
        self.state_dir = state_dir  # the containers' directories (the server asks their state)
        self.db = db
        self.records = records
        self.host = host

    @property
    def records_file(self) -> Path:
        return self.dir / "records.json"

    @property
    def lock_file(self) -> Path:
        return self.dir / "dns.lock"

    def publish(self) -> None:
        """Rewrite the DNS server's records from the store, and start the server if needed."""
        data = self.render()
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.records_file.with_name(f".records.{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.records_file)
        networks = data["networks"]
        if networks:
            self._ensure_server()
            deadline = time.monotonic() + LISTEN_WAIT
            while not self.host.udp_listening(networks) and time.monotonic() < deadline:
                time.sleep(0.01)

    def render(self) -> dict[str, Any]:
        """The records: per user network's gateway, its containers' names and addresses."""
        from cove.containers.store import ContainerStore

        containers = ContainerStore(self.db)
        networks: dict[str, dict[str, Any]] = {}
        clients: dict[str, list[str]] = {}  # container address -> its own upstreams (--dns)
        for network in self.records.all():
            if not network.user_defined:
                continue
            names: dict[str, list[list[str]]] = {}
            for endpoint in self.records.endpoints(network_id=network.id):
                try:
                    record = containers.get(endpoint.container_id)
                except CoveError:
                    continue
                if record.config.dns:
                    clients[endpoint.ip] = list(record.config.dns)
                aliases = {record.name, record.id[:12], record.config.hostname or "", *endpoint.aliases}
                for alias in sorted(a.lower() for a in aliases if a):
                    names.setdefault(alias, []).append([endpoint.ip, record.id])
            if names:
                networks[network.gateway] = {"internal": network.internal, "names": names}
        return {
            "networks": networks,
            "upstreams": self.host.nameservers(),
            "clients": clients,
            "state_dir": str(self.state_dir),
        }

    def _ensure_server(self) -> None:
        lock = FileLock(self.lock_file)
        if not lock.try_free():
            return  # running
        from cove.network import dns

        self.host.spawn_detached(
            [sys.executable, "-I", "-S", dns.__file__, str(self.records_file), str(lock.path)],
            stderr_path=str(self.dir / "dns.log"),
        )


def stop_dns_server(host: Host, lock_path: Path) -> None:
    """Stop the DNS server that holds ``lock_path`` (its PID is written in it), if it runs."""
    lock = FileLock(lock_path)
    if not lock_path.exists() or lock.try_free():
        return
    try:
        pid = int(lock_path.read_text().strip() or 0)
        argv = host.read_proc(f"{pid}/cmdline").split(b"\0")
    except (OSError, ValueError):
        return
    if os.fsencode(str(lock_path)) in argv:  # the PID is still this store's server
        host.kill(pid, signal.SIGTERM)
        if not host.wait_exit(pid, STOP_GRACE) and host.alive(pid):
            host.kill(pid, signal.SIGKILL)

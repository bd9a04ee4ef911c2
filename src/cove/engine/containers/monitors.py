"""The engine's side of a container's monitor: launching it, and asking it things over its
socket. Behind a protocol so that unit tests of start, stop, kill and wait can stand in for the
monitor process (which the integration suite runs for real)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cove.monitor import protocol as p
    from cove.monitor.config import MonitorConfig


class Monitors(Protocol):
    def start(self, config: MonitorConfig, config_path: Path, log_path: Path) -> dict[str, Any]:
        """Launch the container's monitor; its first report (``ok``, else ``error``)."""
        ...

    def request(self, socket_path: Path, message: p.Request, timeout: float | None = 30.0) -> p.Reply:
        """One request to a running monitor, and its reply (raises CoveError when it is gone)."""
        ...


class MonitorClient:
    """The real monitors: forked from this process, reached on their unix sockets."""

    # The client (sockets, the protocol's typed messages) is imported when a monitor is first
    # asked something: listing containers reads their records and never talks to one.

    def start(self, config: MonitorConfig, config_path: Path, log_path: Path) -> dict[str, Any]:
        from cove.monitor import client

        return client.start_monitor(config, config_path, log_path)

    def request(self, socket_path: Path, message: p.Request, timeout: float | None = 30.0) -> p.Reply:
        from cove.monitor import client

        return client.request(socket_path, message, timeout=timeout)

"""A stand-in for the container monitors (:class:`cove.engine.containers.monitors.Monitors`).

It does what a monitor does that the engine can see, and nothing else: on ``start`` it holds
the container's ``monitor.lock`` and records the container running in ``state.json`` (its init
and itself being processes of a :class:`~tests.helpers.fakehost.RecordingHost`); on ``stop``
and ``kill`` it signals the init through that host and, once it has ended, unmounts the
rootfs and records the exit; after a failed start it records the explanation cove sends it
(``StartFailed``), as the one writer of the record. Every config and request it gets is kept
for the test to look at.
"""

from __future__ import annotations

import dataclasses
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.containers.state import ContainerState, now_rfc3339, read_record, write_state
from cove.errors import Unavailable
from cove.host.locks import FileLock
from cove.monitor import protocol as p
from cove.monitor.config import MonitorConfig
from tests.helpers.fakehost import FakeProcess, RecordingHost


@dataclass
class Running:
    directory: Path
    lock: FileLock
    init_pid: int
    monitor_pid: int
    rootfs: Path


def _state(directory: Path) -> ContainerState:
    return ContainerState.from_json(read_record(directory / "state.json"))


@dataclass
class FakeMonitors:
    host: RecordingHost
    started: list[dict[str, Any]] = field(default_factory=list)  # the configs, as written
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    start_error: str | None = None  # what the runtime said when the container could not start
    running: dict[Path, Running] = field(default_factory=dict)  # by socket path
    explaining: dict[Path, Path] = field(default_factory=dict)  # failed starts: socket -> directory

    def start(self, config: MonitorConfig, config_path: Path, log_path: Path) -> dict[str, Any]:
        self.started.append(config.to_json())
        directory = Path(config.container_dir)
        if self.start_error is not None:
            failed = _state(directory).orphaned().start_failed(self.start_error, first=True)
            write_state(directory / "state.json", failed)
            self.explaining[Path(config.socket)] = directory
            return {"ok": False, "error": self.start_error}
        lock = FileLock(directory / "monitor.lock")
        assert lock.acquire(blocking=False), "a second monitor for one container"
        monitor_pid = self._process(("cove-monitor", config.id))
        init_pid = self._process(("init", config.id))
        state = (
            _state(directory)
            .orphaned()
            .started(init_pid, self.host.procs[init_pid].start_time, now_rfc3339())
        )
        write_state(directory / "state.json", dataclasses.replace(state, monitor_pid=monitor_pid))
        self.running[Path(config.socket)] = Running(
            directory, lock, init_pid, monitor_pid, Path(config.rootfs)
        )
        return {"ok": True}

    def request(self, socket_path: Path, message: p.Request, timeout: float | None = 30.0) -> p.Reply:
        self.requests.append((message.op.value, message.fields()))
        if isinstance(message, p.StartFailed) and socket_path in self.explaining:
            directory = self.explaining.pop(socket_path)
            explained = _state(directory).start_failed(message.error, first=True, exit_code=message.exit_code)
            write_state(directory / "state.json", explained)
            return p.Reply(True)
        running = self.running.get(socket_path)
        if running is None:
            raise Unavailable("the container's monitor is not running")
        if isinstance(message, p.Kill):
            self.host.kill(running.init_pid, message.signal or signal.SIGKILL)
            self._finish_if_ended(socket_path, running)
            return p.Reply(True)
        if isinstance(message, p.Stop):
            self.host.kill(running.init_pid, message.signal or signal.SIGTERM)
            if self.host.alive(running.init_pid):
                self.host.kill(running.init_pid, signal.SIGKILL)
            self._finish_if_ended(socket_path, running)
            return p.Reply(True)
        if isinstance(message, p.Wait):
            return p.Reply(True, exit_code=self.host.procs[running.init_pid].exit_code)
        return p.Reply(False, error=f"unknown request {message.op.value}")

    def _process(self, argv: tuple[str, ...]) -> int:
        pid = self.host.next_pid
        self.host.next_pid += 1
        self.host.procs[pid] = FakeProcess(argv)
        return pid

    def _finish_if_ended(self, socket_path: Path, running: Running) -> None:
        """What the monitor does when the init ends: unmounts the rootfs, records the exit,
        lets go, exits."""
        code = self.host.procs[running.init_pid].exit_code
        if code is None:
            return
        if self.host.is_mountpoint(running.rootfs):
            self.host.unmount(running.rootfs, lazy=True)
        state = _state(running.directory).exited(
            code, now_rfc3339(), oom_killed=False, manual_stop=True, restarting=False
        )
        state = dataclasses.replace(state, monitor_pid=0, last_monitor_pid=running.monitor_pid)
        write_state(running.directory / "state.json", state)
        running.lock.release()
        self.host.procs[running.monitor_pid].exit_code = 0
        del self.running[socket_path]

    def close(self) -> None:
        for running in self.running.values():
            running.lock.release()
        self.running.clear()

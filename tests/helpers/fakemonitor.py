"""A stand-in for the container monitors (:class:`cove.engine.containers.monitors.Monitors`).

It does what a monitor does that the engine can see, and nothing else: on ``start`` it holds
the container's ``monitor.lock`` and records the container running in ``state.json`` (its init
and itself being processes of a :class:`~tests.helpers.fakehost.RecordingHost`); on ``stop``
and ``kill`` it signals the init through that host and, once it has ended, unmounts the
rootfs and records the exit. Every config and request it gets is kept for the test to look at.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.errors import Unavailable
from cove.host.locks import FileLock
from cove.monitor.state import EXITED, RUNNING, now_rfc3339, read_state, write_state
from tests.helpers.fakehost import FakeProcess, RecordingHost


@dataclass
class Running:
    directory: Path
    lock: FileLock
    init_pid: int
    monitor_pid: int
    rootfs: Path


@dataclass
class FakeMonitors:
    host: RecordingHost
    started: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    start_error: str | None = None  # what the runtime said when the container could not start
    running: dict[Path, Running] = field(default_factory=dict)  # by socket path

    def start(self, config: dict[str, Any], config_path: Path, log_path: Path) -> dict[str, Any]:
        self.started.append(config)
        if self.start_error is not None:
            return {"ok": False, "error": self.start_error}
        directory = Path(config["container_dir"])
        lock = FileLock(directory / "monitor.lock")
        assert lock.acquire(blocking=False), "a second monitor for one container"
        monitor_pid = self._process(("cove-monitor", config["id"]))
        init_pid = self._process(("init", config["id"]))
        state = read_state(directory / "state.json")
        state.update(
            status=RUNNING,
            pid=init_pid,
            pid_start=self.host.procs[init_pid].start_time,
            monitor_pid=monitor_pid,
            started_at=now_rfc3339(),
            exit_code=0,
            error="",
        )
        write_state(directory / "state.json", state)
        self.running[Path(config["socket"])] = Running(
            directory, lock, init_pid, monitor_pid, Path(config["rootfs"])
        )
        return {"ok": True}

    def request(
        self, socket_path: Path, op: str, timeout: float | None = 30.0, **fields: Any
    ) -> dict[str, Any]:
        self.requests.append((op, fields))
        running = self.running.get(socket_path)
        if running is None:
            raise Unavailable("the container's monitor is not running")
        if op == "kill":
            self.host.kill(running.init_pid, fields["signal"])
            self._finish_if_ended(socket_path, running)
            return {"ok": True}
        if op == "stop":
            self.host.kill(running.init_pid, fields["signal"])
            if self.host.alive(running.init_pid):
                self.host.kill(running.init_pid, signal.SIGKILL)
            self._finish_if_ended(socket_path, running)
            return {"ok": True}
        if op == "wait":
            code = self.host.procs[running.init_pid].exit_code
            return {"ok": True, "exit_code": code}
        return {"ok": False, "error": f"unknown request {op}"}

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
        state = read_state(running.directory / "state.json")
        state.update(status=EXITED, pid=0, exit_code=code, finished_at=now_rfc3339())
        state.update(monitor_pid=0, last_monitor_pid=running.monitor_pid)
        write_state(running.directory / "state.json", state)
        running.lock.release()
        self.host.procs[running.monitor_pid].exit_code = 0
        del self.running[socket_path]

    def close(self) -> None:
        for running in self.running.values():
            running.lock.release()
        self.running.clear()

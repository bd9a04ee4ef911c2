"""A container's status as it really is: the monitor's record, checked against what is alive.

The monitor writes ``state.json`` at every change and holds ``monitor.lock`` while it
lives. If the lock is free while the record says running, the monitor was killed: then
the container's init process is checked directly, so ``ps`` tells the truth even after
``kill -9`` of the monitor. An init that ended without its monitor was reaped by someone
else (PID 1, or a subreaper above), who kept its exit status: that status is unknown, and
is recorded as such (``exit_code`` None), never made up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.host import process
from cove.host.locks import FileLock
from cove.monitor.state import CREATED, EXITED, RESTARTING, RUNNING, read_state

PAUSED = "paused"
DEAD = "dead"
MONITOR_LOST = "the monitor of this container died; its exit status is unknown"
UNKNOWN_EXIT_CODE = -1  # what the Docker API's integer ExitCode says for "unknown", as podman's does


@dataclass(frozen=True)
class Status:
    status: str  # created, running, paused, restarting, exited
    pid: int = 0
    exit_code: int | None = 0  # None: unknown (the monitor died before it could record the exit)
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    restart_count: int = 0
    health: dict[str, Any] | None = None
    supervised: bool = False  # a live monitor holds the container
    manual_stop: bool = False
    log_dropped_lines: int = 0  # lines of output the log could not take (a full disk)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status in (RUNNING, PAUSED, RESTARTING)

    @property
    def reported_exit_code(self) -> int:
        """The exit code as an integer field must show it: -1 when it is unknown."""
        return UNKNOWN_EXIT_CODE if self.exit_code is None else self.exit_code


def monitor_alive(container_dir: Path) -> bool:
    lock = FileLock(container_dir / "monitor.lock")
    if not (container_dir / "monitor.lock").exists():
        return False
    if lock.acquire(shared=True, blocking=False):
        lock.release()
        return False
    return True


def read_status(container_dir: Path) -> Status:
    state = read_state(container_dir / "state.json")
    if not state:
        return Status(CREATED)
    alive = monitor_alive(container_dir)
    status = str(state.get("status", CREATED))
    pid = int(state.get("pid") or 0)
    error = str(state.get("error") or "")
    recorded = state.get("exit_code", 0)
    exit_code = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None
    finished = str(state.get("finished_at") or "")
    if not alive and status in (RUNNING, RESTARTING):
        # The monitor is gone without recording an end.
        if pid and process.alive(pid) and process.start_time(pid) == state.get("pid_start"):
            error = "the monitor of this container died; it runs unsupervised (stop or restart it)"
        else:
            status, exit_code, pid = EXITED, None, 0
            error = error or MONITOR_LOST
    dropped = _count(state.get("log_dropped_lines"))
    if dropped:
        note = (
            f"{dropped} lines of output ({_count(state.get('log_dropped_bytes'))} bytes) could not be"
            f" logged: {str(state.get('log_error') or 'write error')[:200]}"
        )
        error = f"{error}; {note}" if error else note
    if status == RUNNING and (container_dir / PAUSED).exists():
        status = PAUSED
    return Status(
        status=status,
        pid=pid if status in (RUNNING, PAUSED) else 0,
        exit_code=exit_code,
        error=error,
        started_at=str(state.get("started_at") or ""),
        finished_at=finished,
        oom_killed=bool(state.get("oom_killed")),
        restart_count=int(state.get("restart_count") or 0),
        health=state.get("health"),
        supervised=alive,
        manual_stop=bool(state.get("manual_stop")),
        log_dropped_lines=dropped,
        raw=state,
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

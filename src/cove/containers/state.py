"""The one typed container state: its status, the rules of its transitions, its reader and writer.

A container's state lives in ``containers/<id>/state.json``. Its monitor is the one
writer: it holds ``monitor.lock`` while it lives, replaces the record atomically at every
change, and asks a :class:`ContainerState` for each change (``started``, ``paused``,
``exited``...), which refuses one its rules do not allow (youki's ``can_start`` /
``can_kill`` / ``can_delete`` / ``can_pause``). Everything else (``ps``, ``info``, ``system
df``, ``rmi``, the DNS server, filters) asks :func:`read_state`, which checks the record
against what is alive: if the lock is free while the record says running, the monitor was
killed, and the container's init is looked at directly (its PID and that PID's start
time), so the answer stays true after ``kill -9`` of the monitor. An init that ended
without its monitor was reaped by someone else, who kept its exit status: that status is
unknown (``exit_code`` None), never made up.

Standard library and ``cove.host`` only: the monitor (``python -S -I``) and the DNS
server import this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cove.errors import Conflict

STATE_FILE = "state.json"
MONITOR_LOCK = "monitor.lock"
MONITOR_LOST = "the monitor of this container died; its exit status is unknown"
RUNS_UNSUPERVISED = "the monitor of this container died; it runs unsupervised (stop or restart it)"
UNKNOWN_EXIT_CODE = -1  # what the Docker API's integer ExitCode says for "unknown", as podman's does

NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})
# A record is a few KiB (health results take the most: five outputs of up to 4 KiB each).
SPARE_SIZE = 64 << 10
MAX_RECORD = 1 << 20  # a record larger than this is not the monitor's
MAX_TEXT = 64 << 10
HEALTH_LOG_ENTRIES = 5
HEALTH_OUTPUT_MAX = 4096


class Status(enum.Enum):
    """Docker's container statuses (``State.Status``; ``ps --filter status=``)."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    @classmethod
    def parse(cls, text: str) -> Status:
        """The status named ``text``; ValueError for a name Docker does not have."""
        return cls(text)

    @classmethod
    def names(cls) -> list[str]:
        return [s.value for s in cls]


LIVE = frozenset({Status.RUNNING, Status.PAUSED, Status.RESTARTING})  # Docker's State.Running


class HealthStatus(enum.Enum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class InvalidTransition(Conflict):
    """A change the container's status does not allow (pause a paused container...)."""


@dataclass(frozen=True)
class HealthResult:
    start: str
    end: str
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"Start": self.start, "End": self.end, "ExitCode": self.exit_code, "Output": self.output}

    @classmethod
    def from_json(cls, data: Any) -> HealthResult | None:
        if not isinstance(data, dict):
            return None
        return cls(
            _text(data.get("Start"), 64),
            _text(data.get("End"), 64),
            _int(data.get("ExitCode"), -1, minimum=-(1 << 31)),
            _text(data.get("Output"), HEALTH_OUTPUT_MAX),
        )


@dataclass(frozen=True)
class Health:
    status: HealthStatus = HealthStatus.STARTING
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Status": self.status.value,
            "FailingStreak": self.failing_streak,
            "Log": [r.to_json() for r in self.log],
        }

    @classmethod
    def from_json(cls, data: Any) -> Health | None:
        if not isinstance(data, dict):
            return None
        try:
            status = HealthStatus(data.get("Status"))
        except ValueError:
            return None
        raw = data.get("Log")
        log: list[Any] = raw if isinstance(raw, list) else []
        results = tuple(r for r in (HealthResult.from_json(e) for e in log[-HEALTH_LOG_ENTRIES:]) if r)
        return cls(status, _int(data.get("FailingStreak"), 0), results)


@dataclass(frozen=True)
class LogDrops:
    """What the container's log could not take (a full disk), since its monitor started."""

    lines: int = 0
    bytes: int = 0
    error: str = ""

    def note(self) -> str:
        if not self.lines:
            return ""
        return (
            f"{self.lines} lines of output ({self.bytes} bytes) could not be logged:"
            f" {(self.error or 'write error')[:200]}"
        )


@dataclass(frozen=True)
class ContainerState:
    status: Status = Status.CREATED
    pid: int = 0
    pid_start: int | None = None  # the init's start time since boot: tells its PID from a reuse
    exit_code: int | None = 0  # None: unknown (the monitor died before it could record the exit)
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    restart_count: int = 0
    health: Health | None = None
    manual_stop: bool = False  # stopped by a user: no restart policy applies
    monitor_pid: int = 0  # the monitor while it lives
    last_monitor_pid: int = 0  # the monitor that left, so that cove can wait for its end
    log_drops: LogDrops = LogDrops()
    supervised: bool = False  # (not recorded) a live monitor holds the container

    # -- what it is --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Docker's State.Running: running, paused and restarting containers all count."""
        return self.status in LIVE

    @property
    def reported_exit_code(self) -> int:
        """The exit code as an integer field must show it: -1 when it is unknown."""
        return UNKNOWN_EXIT_CODE if self.exit_code is None else self.exit_code

    @property
    def reported_error(self) -> str:
        """State.Error: the recorded error, and what the log lost."""
        note = self.log_drops.note()
        return f"{self.error}; {note}" if self.error and note else self.error or note

    # -- the rules ---------------------------------------------------------------------

    def can_start(self) -> bool:
        return self.status in (Status.CREATED, Status.EXITED, Status.RESTARTING, Status.DEAD)

    def can_kill(self) -> bool:
        return self.status in (Status.RUNNING, Status.PAUSED)

    def can_stop(self) -> bool:
        return self.status in LIVE

    def can_pause(self) -> bool:
        return self.status == Status.RUNNING

    def can_unpause(self) -> bool:
        return self.status == Status.PAUSED

    def can_exec(self) -> bool:
        return self.status == Status.RUNNING

    def can_delete(self) -> bool:
        """Removable without force: nothing of it runs."""
        return self.status not in LIVE

    def check_pause(self, name: str) -> None:
        if self.status == Status.PAUSED:
            raise InvalidTransition(f"container {name} is already paused")
        if not self.can_pause():
            raise InvalidTransition(f"container {name} is not running")

    def check_unpause(self, name: str) -> None:
        if not self.can_unpause():
            raise InvalidTransition(f"container {name} is not paused")

    # -- transitions (the monitor's) ------------------------------------------------------

    def started(self, pid: int, pid_start: int | None, at: str) -> ContainerState:
        if not self.can_start():
            raise InvalidTransition(f"a {self.status.value} container cannot be started")
        return dataclasses.replace(
            self,
            status=Status.RUNNING,
            pid=pid,
            pid_start=pid_start,
            started_at=at,
            exit_code=0,
            error="",
            oom_killed=False,
            manual_stop=False,
        )

    def start_failed(self, error: str, *, first: bool, exit_code: int | None = None) -> ContainerState:
        """The runtime could not start it: a first start leaves it created, a restart exited."""
        return dataclasses.replace(
            self,
            status=Status.CREATED if first else Status.EXITED,
            pid=0,
            error=error,
            exit_code=self.exit_code if exit_code is None else exit_code,
        )

    def paused(self, name: str) -> ContainerState:
        self.check_pause(name)
        return dataclasses.replace(self, status=Status.PAUSED)

    def unpaused(self, name: str) -> ContainerState:
        self.check_unpause(name)
        return dataclasses.replace(self, status=Status.RUNNING)

    def exited(
        self, code: int, at: str, *, oom_killed: bool, manual_stop: bool, restarting: bool
    ) -> ContainerState:
        """The init ended; a container about to be restarted is "restarting", never "exited" in between."""
        if self.status not in (Status.RUNNING, Status.PAUSED):
            raise InvalidTransition(f"a {self.status.value} container cannot exit")
        return dataclasses.replace(
            self,
            status=Status.RESTARTING if restarting else Status.EXITED,
            exit_code=code,
            finished_at=at,
            oom_killed=oom_killed,
            pid=0,
            manual_stop=manual_stop,
        )

    def orphaned(self) -> ContainerState:
        """As a new monitor finds it: a run its predecessor recorded and never ended ended
        unseen (the reader's view of it, now written down)."""
        if self.status not in LIVE:
            return self
        return dataclasses.replace(
            self, status=Status.EXITED, exit_code=None, pid=0, error=self.error or MONITOR_LOST
        )

    def restart_given_up(self) -> ContainerState:
        """Stopped while it waited to be restarted."""
        return dataclasses.replace(self, status=Status.EXITED, manual_stop=True)

    def restart_counted(self) -> ContainerState:
        return dataclasses.replace(self, restart_count=self.restart_count + 1)

    # -- the record ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status.value,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "exit_code": self.exit_code,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "oom_killed": self.oom_killed,
            "restart_count": self.restart_count,
            "health": self.health.to_json() if self.health is not None else None,
            "manual_stop": self.manual_stop,
            "monitor_pid": self.monitor_pid,
            "last_monitor_pid": self.last_monitor_pid,
        }
        if self.log_drops.lines:
            data.update(
                log_dropped_lines=self.log_drops.lines,
                log_dropped_bytes=self.log_drops.bytes,
                log_error=self.log_drops.error,
            )
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerState:
        """Read a record defensively: a field of the wrong type reads as its default; an
        unknown status as dead (the record is not one cove wrote)."""
        if not data:
            return cls()
        try:
            status = Status.parse(data.get("status", Status.CREATED.value))
        except (ValueError, TypeError):
            status = Status.DEAD
        recorded = data.get("exit_code", 0)
        pid_start = data.get("pid_start")
        return cls(
            status=status,
            pid=_int(data.get("pid"), 0),
            pid_start=pid_start if _is_int(pid_start) else None,
            exit_code=recorded if _is_int(recorded) else None,
            error=_text(data.get("error"), MAX_TEXT),
            started_at=_text(data.get("started_at"), 64),
            finished_at=_text(data.get("finished_at"), 64),
            oom_killed=data.get("oom_killed") is True,
            restart_count=_int(data.get("restart_count"), 0),
            health=Health.from_json(data.get("health")),
            manual_stop=data.get("manual_stop") is True,
            monitor_pid=_int(data.get("monitor_pid"), 0),
            last_monitor_pid=_int(data.get("last_monitor_pid"), 0),
            log_drops=LogDrops(
                _int(data.get("log_dropped_lines"), 0),
                _int(data.get("log_dropped_bytes"), 0),
                _text(data.get("log_error"), 1000),
            ),
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any, default: int, *, minimum: int = 0) -> int:
    return value if _is_int(value) and minimum <= value < (1 << 63) else default


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


# -- the one reader -------------------------------------------------------------------------


class Liveness(Protocol):
    """What the reader asks of the host (``cove.host.seam.Host`` has both)."""

    def alive(self, pid: int) -> bool: ...

    def start_time(self, pid: int) -> int | None: ...


class _Processes:
    def alive(self, pid: int) -> bool:
        from cove.host import process  # noqa: PLC0415 - ctypes, only when a monitor is gone

        return process.alive(pid)

    def start_time(self, pid: int) -> int | None:
        from cove.host import process  # noqa: PLC0415

        return process.start_time(pid)


def monitor_alive(container_dir: Path) -> bool:
    """Does a live monitor hold the container (its lock is taken)?"""
    try:
        fd = os.open(container_dir / MONITOR_LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # (drops the shared lock taken, if any)
    return False


def read_state(container_dir: Path, host: Liveness | None = None) -> ContainerState:
    """The container's state as it really is: its monitor's record, checked against what is alive."""
    state = ContainerState.from_json(read_record(container_dir / STATE_FILE))
    alive = monitor_alive(container_dir)
    if not alive and state.status in LIVE:
        # The monitor is gone without recording an end.
        host = host or _Processes()
        pid = state.pid
        if pid and host.alive(pid) and host.start_time(pid) == state.pid_start:
            state = dataclasses.replace(state, error=RUNS_UNSUPERVISED)
        else:
            state = dataclasses.replace(
                state, status=Status.EXITED, exit_code=None, pid=0, error=state.error or MONITOR_LOST
            )
    pid = state.pid if state.status in (Status.RUNNING, Status.PAUSED) else 0
    return dataclasses.replace(state, supervised=alive, pid=pid)


# -- the writer's file operations (the monitor's) ---------------------------------------------


def now_rfc3339(clock: Callable[[], int] = time.time_ns) -> str:
    """The time now (``clock``: nanoseconds since the epoch) as Go's RFC3339Nano writes it
    (Docker's StartedAt, FinishedAt and health log times): UTC, nanoseconds with trailing
    zeros trimmed, no fraction on a whole second."""
    seconds, frac = divmod(clock(), 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def write_state(path: Path, state: ContainerState, *, spare: bool = False) -> None:
    write_record(path, state.to_json(), spare=spare)


def replace_file(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` by renaming a new file over it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # what a failed try took is free again
        raise


def write_record(
    path: Path,
    record: Mapping[str, Any],
    *,
    spare: bool = False,
    replace: Callable[[Path, bytes], None] = replace_file,
) -> None:
    """Replace the record at ``path`` atomically (a new file renamed over it). ``spare``: when
    the file system is out of space, release the spare kept beside it (see reserve_spare) and
    try once more, so that a record that must not be lost, an exit, still goes in.
    ``replace`` writes the bytes."""
    data = json.dumps(record).encode()
    try:
        replace(path, data)
    except OSError as exc:
        if not (spare and exc.errno in NO_ROOM and release_spare(path)):
            raise
        replace(path, data)


def read_record(path: Path) -> dict[str, Any]:
    """The record at ``path`` as stored; {} when there is none (or it is not a record)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RECORD + 1)
        data = json.loads(raw) if len(raw) <= MAX_RECORD else None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def reserve_spare(path: Path, size: int = SPARE_SIZE) -> bool:
    """Keep ``size`` bytes allocated beside the record at ``path``, for write_record to give
    back when the disk is full. Blocks released by deleting a file are free again at once (on
    ext4 once its journal commits, which an allocation that finds none waits for), and the
    rename keeps the record whole: a copy-on-write file system or a concurrent reader would
    break an overwrite in place. False when there is no room for it now (try again later)."""
    spare = _spare(path)
    try:
        if spare.stat().st_size >= size:
            return True
    except FileNotFoundError:
        pass
    try:
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError:
        release_spare(path)  # half a spare is only taken space
        return False
    return True


def _spare(path: Path) -> Path:
    return path.with_name(path.name + ".spare")


def release_spare(path: Path) -> bool:
    """Give the spare's space back; False when there was none."""
    try:
        os.unlink(_spare(path))
    except FileNotFoundError:
        return False
    return True

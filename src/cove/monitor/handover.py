"""Shedding: a monitor forked from the cove command becomes a lean process of its own.

The fork carries the whole cove command's memory. Once the container runs and nobody is
attached, it writes what it holds (descriptors, timers, the health checker's state) to
``monitor-handover.json`` and exec()s ``python -S -I monitor/main.py CONFIG --adopt FILE``:
same PID, so the container's init stays its child and the lock stays held.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.containers.state import ContainerState, Health

MAIN = Path(__file__).resolve().parent / "main.py"
HANDOVER_FILE = "monitor-handover.json"


class HandoverError(ValueError):
    """The handover file is not one a monitor wrote."""


@dataclass(frozen=True)
class HealthTimers:
    health: Health
    started_ago: float
    next_in: float


@dataclass(frozen=True)
class Handover:
    lock_fd: int
    listener: int
    outputs: dict[int, str]
    stdin_fd: int | None
    master_fd: int | None
    init_pid: int
    ran: float  # seconds the container has run
    backoff: float
    partial: dict[str, bytes]
    state: ContainerState  # as this process knows it (the file may lag, on a full disk)
    health: HealthTimers | None = None

    @property
    def fds(self) -> list[int]:
        return [
            fd
            for fd in (self.lock_fd, self.listener, *self.outputs, self.stdin_fd, self.master_fd)
            if fd is not None
        ]

    def to_json(self) -> dict[str, Any]:
        health = None
        if self.health is not None:
            health = {
                **self.health.health.to_json(),
                "started_ago": self.health.started_ago,
                "next_in": self.health.next_in,
            }
        return {
            "lock_fd": self.lock_fd,
            "listener": self.listener,
            "outputs": {str(fd): stream for fd, stream in self.outputs.items()},
            "stdin_fd": self.stdin_fd,
            "master_fd": self.master_fd,
            "init_pid": self.init_pid,
            "ran": self.ran,
            "backoff": self.backoff,
            "partial": {k: base64.b64encode(v).decode() for k, v in self.partial.items()},
            "state": self.state.to_json(),
            "health": health,
        }

    @classmethod
    def from_json(cls, data: Any) -> Handover:
        try:
            health = None
            h = data.get("health")
            if h:
                parsed = Health.from_json(h)
                if parsed is None:
                    raise HandoverError("the handover's health is not one")
                health = HealthTimers(parsed, float(h["started_ago"]), float(h["next_in"]))
            return cls(
                lock_fd=int(data["lock_fd"]),
                listener=int(data["listener"]),
                outputs={int(fd): str(stream) for fd, stream in data["outputs"].items()},
                stdin_fd=None if data["stdin_fd"] is None else int(data["stdin_fd"]),
                master_fd=None if data["master_fd"] is None else int(data["master_fd"]),
                init_pid=int(data["init_pid"]),
                ran=float(data["ran"]),
                backoff=float(data["backoff"]),
                partial={str(k): base64.b64decode(v) for k, v in data["partial"].items()},
                state=ContainerState.from_json(data["state"]),
                health=health,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HandoverError(f"bad handover: {exc}") from None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def take(cls, path: Path) -> Handover:
        """Read the handover and remove its file."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise HandoverError(f"cannot read {path}: {exc}") from None
        finally:
            path.unlink(missing_ok=True)
        return cls.from_json(data)


def health_timers(health: Health, started: float, next_at: float) -> HealthTimers:
    now = time.monotonic()
    return HealthTimers(health, now - started, next_at - now)


def become_lean(handover: Handover, config_path: str, path: Path) -> None:
    """exec() the lean monitor with ``handover``'s descriptors (does not return)."""
    for fd in handover.fds:
        os.set_inheritable(fd, True)
    argv = [sys.executable, "-S", "-I", str(MAIN), config_path, "--adopt", str(path)]
    os.execv(sys.executable, argv)

"""A guard process that undoes what its owner set up, should the owner die first.

A process killed with SIGKILL runs no cleanup of its own: a build's RUN step would leave its
runtime container running (the runtime, killed with its parent, cannot delete it), its rootfs
mounted and its work directory behind until some later cove command tidied up. So the owner
starts a small process of its own (a new session: a signal to the owner's process group does
not reach it) with the read end of a pipe as its stdin, and *arms* it before each set-up
with what undoes it: programs to run, mounts to detach, directories to remove. Once the owner
has undone a set-up itself, it *disarms* it. When the pipe reaches its end, the owner is
gone (the kernel closes its end, however it died), and the guard carries out whatever is
still armed, newest first, then leaves. An owner that ends normally has disarmed everything.

The guard runs as ``python -S -I .../cove/host/guard.py``: the standard library and this
package's host modules only, like the container monitor.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAIN = Path(__file__).resolve()
RUN_TIMEOUT = 30.0  # seconds an undoing program may take before it is killed
MESSAGE_MAX = 1 << 20


@dataclass(frozen=True)
class RunProgram:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Unmount:
    path: str


@dataclass(frozen=True)
class Remove:
    path: str


Action = RunProgram | Unmount | Remove


def _encode(action: Action) -> list[object]:
    if isinstance(action, RunProgram):
        return ["run", list(action.argv)]
    if isinstance(action, Unmount):
        return ["unmount", action.path]
    return ["remove", action.path]


class Guard:
    """The owner's side. Started at the first arm(); a guard that cannot start or has died
    makes arm() a no-op (the store's cleanup of leftovers is then what remains)."""

    def __init__(self, python: str | None = None) -> None:
        self._python = python or sys.executable  # what runs the guard's side
        self._lock = threading.Lock()  # build stages arm and disarm from their threads
        self._fd: int | None = None
        self._pid = 0
        self._failed = False
        self._next = 0

    def arm(self, actions: Sequence[Action]) -> int:
        """Have ``actions`` carried out if this process dies before disarm(token)."""
        with self._lock:
            self._next += 1
            token = self._next
            if self._fd is None and not self._failed:
                self._start()
            self._send({"arm": token, "actions": [_encode(a) for a in actions]})
        return token

    def disarm(self, token: int) -> None:
        with self._lock:
            self._send({"disarm": token})

    def close(self) -> None:
        """Let the guard go (everything is disarmed by now): it leaves at the pipe's end."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._pid:
                _reap(self._pid, timeout=2.0)
                self._pid = 0

    def _start(self) -> None:
        from cove.host.process import spawn  # noqa: PLC0415 - the guard side never needs it

        r, w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            argv = [self._python, "-S", "-I", str(MAIN)]
            self._pid = spawn(argv, stdin=r, stdout=devnull, stderr=devnull, new_session=True)
        except OSError:
            os.close(w)
            self._failed = True
            return
        finally:
            os.close(r)
            os.close(devnull)
        self._fd = w

    def _send(self, message: dict[str, object]) -> None:
        if self._fd is None:
            return
        data = (json.dumps(message) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:  # the guard died: nothing to arm any more
            os.close(self._fd)
            self._fd = None
            self._failed = True


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


# -- the guard's side ------------------------------------------------------------------------


def serve(stream: int = 0) -> int:
    """Read arm and disarm messages until the owner is gone; then undo what is still armed."""
    armed: dict[int, list[list[object]]] = {}
    buffer = b""
    while True:
        try:
            chunk = os.read(stream, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > MESSAGE_MAX:
            buffer = b""  # not the owner's messages: ignored
        for line in lines:
            _take(line, armed)
    for token in sorted(armed, reverse=True):
        for action in armed[token]:
            _undo(action)
    return 0


def _take(line: bytes, armed: dict[int, list[list[object]]]) -> None:
    try:
        message = json.loads(line)
        if "arm" in message:
            armed[int(message["arm"])] = [
                a for a in message["actions"] if isinstance(a, list) and len(a) == 2
            ]
        elif "disarm" in message:
            armed.pop(int(message["disarm"]), None)
    except (ValueError, TypeError, KeyError, AttributeError):
        pass


def _undo(action: list[object]) -> None:
    from cove.host.mounts import unmount, unmount_all_under  # noqa: PLC0415 - loaded only when there is work
    from cove.host.process import reap, spawn  # noqa: PLC0415
    from cove.host.trees import remove_tree  # noqa: PLC0415

    kind, what = action
    try:
        if kind == "run" and isinstance(what, list) and what:
            devnull = os.open(os.devnull, os.O_RDWR)
            try:
                pid = spawn([str(a) for a in what], stdin=devnull, stdout=devnull, stderr=devnull)
            finally:
                os.close(devnull)
            deadline = time.monotonic() + RUN_TIMEOUT
            while reap(pid) is None:
                if time.monotonic() >= deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        elif kind == "unmount" and isinstance(what, str):
            unmount(Path(what), lazy=True)
        elif kind == "remove" and isinstance(what, str):
            # Whatever is still mounted under it first (a RUN's binds of a build context): the
            # removal, which never crosses into another filesystem, must not empty those.
            unmount_all_under(Path(what))
            remove_tree(what)
    except Exception:  # each undoing is tried: one that fails stops no other
        pass


if __name__ == "__main__":
    sys.path.insert(0, str(MAIN.parents[2]))
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):  # (a terminal's signals are not for it)
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(serve())

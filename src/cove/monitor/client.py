"""Talking to a container's monitor from cove: starting it, requests, and attach streams."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cove.containers.state import Status
from cove.errors import InternalError, Unavailable
from cove.host.process import spawn_detached
from cove.monitor import protocol as p
from cove.monitor.config import MonitorConfig

MAIN = Path(__file__).resolve().parent / "main.py"
READY_TIMEOUT = 120.0


def _fork_monitor(config: MonitorConfig, ready_w: int, ready_r: int, log_path: Path) -> int:
    """Become the monitor in a double-forked child of this process: no interpreter start-up
    on the way to the container. The child replaces itself with a lean process later.
    Returns the PID of the intermediate child, for the caller to reap."""
    pid = os.fork()
    if pid != 0:
        return pid
    code = 1
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.close(ready_r)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        keep = {0, 1, 2, ready_w}
        for name in os.listdir("/proc/self/fd"):
            if int(name) not in keep:
                with contextlib.suppress(OSError):
                    os.close(int(name))
        from cove.monitor.supervisor import Supervisor  # noqa: PLC0415 - only the child needs it

        code = Supervisor(config, ready_w).run()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def start_monitor(
    config: MonitorConfig, config_path: Path, log_path: Path, *, fork: bool = True
) -> dict[str, Any]:
    """Start the container's monitor (forked from this process, or as a fresh lean process)
    and wait until it reports the container started (or why not)."""
    config = dataclasses.replace(config, config_path=str(config_path))
    config.write(config_path)
    r, w = os.pipe()
    intermediate = 0
    try:
        if fork:
            intermediate = _fork_monitor(config, w, r, log_path)
        else:
            argv = [sys.executable, "-S", "-I", str(MAIN), str(config_path), str(w)]
            spawn_detached(argv, pass_fds=[w], stderr_path=str(log_path))
    finally:
        os.close(w)
    try:
        data = b""
        deadline = time.monotonic() + READY_TIMEOUT
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([r], [], [], max(0.0, remaining))
            if not ready:
                raise Unavailable("the container monitor did not report in time", hint=f"see {log_path}")
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        if intermediate:  # it exits at once; reaped only now so that its exit overlaps the start
            os.waitpid(intermediate, 0)
    if not data:
        detail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
        raise InternalError(
            "the container monitor failed to start" + (f": {detail[0]}" if detail else ""),
            hint=f"see {log_path}",
        )
    try:
        message = json.loads(data)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise InternalError("the container monitor's report is not one", hint=f"see {log_path}")
    return message


def connect(socket_path: Path, timeout: float | None = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise Unavailable("the container's monitor is not running") from None
    return sock


def request(socket_path: Path, message: p.Request, timeout: float | None = 30.0) -> p.Reply:
    """Send one request and wait for its reply (``timeout`` None waits as long as it takes)."""
    with connect(socket_path, timeout=timeout) as sock:
        try:
            sock.sendall(p.encode_request(message))
            line = p.recv_line(sock)
        except (OSError, p.ProtocolError):
            line = b""
    if not line:
        raise Unavailable("the container's monitor went away")
    try:
        return p.parse_reply(line)
    except p.ProtocolError as exc:
        raise Unavailable(f"the container's monitor answered out of protocol: {exc}") from None


class Attachment:
    """An attached stream: write stdin, resize, read stdout/stderr frames until the exit frame.

    ``ended`` tells that the exit frame came; ``exit_code`` is the code it carried (None when the
    monitor had none to give, e.g. after a failed start). A stream that stops without an exit
    frame (a killed monitor) leaves both unset: the caller must ask the container's record."""

    def __init__(self, sock: socket.socket, status: Status | None) -> None:
        self.sock = sock
        self.status = status
        self._frames = p.FrameReader()
        self.ended = False
        self.exit_code: int | None = None
        self.error = ""  # the monitor's, when it refused what this side sent

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_stdin(self, data: bytes) -> None:
        self.sock.sendall(p.frame(p.STDIN, data))

    def close_stdin(self) -> None:
        self.sock.sendall(p.frame(p.CLOSE_STDIN, b""))

    def resize(self, rows: int, cols: int) -> None:
        self.sock.sendall(p.resize_frame(rows, cols))

    def read(self) -> list[tuple[int, bytes]]:
        """Frames available now (blocks until some arrive); [] when the stream ended."""
        try:
            data = self.sock.recv(65536)
        except OSError:  # reset: the monitor died
            data = b""
        if not data:
            return []
        try:
            frames = self._frames.feed(data)
        except ValueError:  # not the monitor's framing: the stream is unusable from here
            return []
        for kind, payload in frames:
            if kind == p.EXIT:
                self.ended = True
                self.exit_code = p.parse_exit(payload)
            elif kind == p.ERROR:  # the stream is over, without an exit to tell
                with contextlib.suppress(ValueError, AttributeError):
                    self.error = str(json.loads(payload).get("error", ""))
                return [f for f in frames if f[0] != p.ERROR]
        return frames

    def frames(self) -> Iterator[tuple[int, bytes]]:
        while True:
            batch = self.read()
            if not batch:
                return
            yield from batch
            if self.ended:
                return

    def close(self) -> None:
        self.sock.close()


def attach(
    socket_path: Path,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty_size: tuple[int, int] | None = None,
    remove: bool = False,
) -> Attachment:
    """Attach to the container's stdio; ``remove`` tells the monitor this client removes a --rm container."""
    sock = connect(socket_path, timeout=None)
    size = p.TtySize(*tty_size) if tty_size else None
    message = p.Attach(stdin=stdin, stdout=stdout, stderr=stderr, remove=remove, tty_size=size)
    try:
        sock.sendall(p.encode_request(message))
        line = p.recv_line(sock)
    except (OSError, p.ProtocolError):
        line = b""
    try:
        hello = p.parse_reply(line) if line else None
    except p.ProtocolError:
        hello = None
    if hello is None:
        sock.close()
        raise Unavailable("the container's monitor went away")
    if not hello.ok:
        sock.close()
        raise Unavailable(f"the container's monitor refused to attach: {hello.error}")
    return Attachment(sock, hello.status)

"""The container's stdio as its monitor holds it: output pipes (or the pty master) into the
log and to attached clients, and stdin frames into the container."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import struct
import termios
import time

from cove.logs.jsonfile import JsonFileWriter
from cove.monitor.protocol import TtySize

PARTIAL_LINE_MAX = 16 * 1024
STREAMS = ("stdout", "stderr")


class Stdio:
    def __init__(self, log: JsonFileWriter, *, tty: bool, open_stdin: bool) -> None:
        self.log = log
        self.tty = tty
        self.open_stdin = open_stdin
        self.outputs: dict[int, str] = {}  # fd -> stream name
        self.partial: dict[str, bytes] = {}  # a line not ended yet, per stream
        self.stdin_fd: int | None = None  # where stdin frames go (pipe or pty master)
        self.stdin_pending = bytearray()
        self.master_fd: int | None = None

    # -- setting up ------------------------------------------------------------------------

    def pipes(self, devnull: int) -> tuple[tuple[int, int, int], list[int]]:
        """Pipes for a container without a terminal: (its stdin, stdout, stderr), and the
        descriptors that are the container's ends (to close here once it started)."""
        theirs: list[int] = []
        stdin = devnull
        if self.open_stdin:
            r, w = os.pipe()
            theirs.append(r)
            self.stdin_fd = w
            os.set_blocking(w, False)
            stdin = r
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        theirs += [out_w, err_w]
        self.outputs = {out_r: "stdout", err_r: "stderr"}
        return (stdin, out_w, err_w), theirs

    def take_terminal(self, master_fd: int, size: TtySize | None) -> None:
        """The pty master the runtime handed over: output and stdin both go through it."""
        self.master_fd = master_fd
        os.set_blocking(master_fd, False)
        self.outputs = {master_fd: "stdout"}
        self.stdin_fd = master_fd
        if size is not None:
            self.resize(size)

    def close(self) -> None:
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs = {}
        if self.stdin_fd is not None and self.stdin_fd != self.master_fd:
            os.close(self.stdin_fd)
        self.stdin_fd = None
        self.master_fd = None

    # -- output ----------------------------------------------------------------------------

    def read(self, fd: int) -> tuple[str, bytes] | None:
        """Read what ``fd`` has and log it; (stream, data) for the attached clients, or None."""
        stream = self.outputs[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's other side is gone
                raise
            data = b""
        if not data:
            self._log_partial(stream)
            os.close(fd)
            del self.outputs[fd]
            if fd == self.master_fd:
                self.master_fd = None
                self.stdin_fd = None
            return None
        self._log(stream, data)
        return stream, data

    def _log(self, stream: str, data: bytes) -> None:
        data = self.partial.pop(stream, b"") + data
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            self.log.write(stream, line + b"\n")
        if len(rest) >= PARTIAL_LINE_MAX:
            self.log.write(stream, rest)
        elif rest:
            self.partial[stream] = rest

    def _log_partial(self, stream: str) -> None:
        rest = self.partial.pop(stream, b"")
        if rest:
            self.log.write(stream, rest)

    def drain(self, timeout: float = 2.0) -> list[tuple[str, bytes]]:
        """Read what the container wrote before it died, up to EOF (or a short time limit)."""
        end = time.monotonic() + timeout
        got: list[tuple[str, bytes]] = []
        while self.outputs and time.monotonic() < end:
            readable, _, _ = select.select(list(self.outputs), [], [], max(0.0, end - time.monotonic()))
            if not readable:
                break
            for fd in readable:
                chunk = self.read(fd)
                if chunk is not None:
                    got.append(chunk)
        for stream in STREAMS:
            self._log_partial(stream)
        return got

    # -- stdin -----------------------------------------------------------------------------

    def write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_pending += data
        self.flush_stdin()

    def flush_stdin(self) -> None:
        if self.stdin_fd is None:
            self.stdin_pending.clear()
            return
        try:
            written = os.write(self.stdin_fd, self.stdin_pending)
            del self.stdin_pending[:written]
        except BlockingIOError:
            pass
        except OSError:
            self.stdin_pending.clear()

    def close_stdin(self) -> None:
        if self.stdin_fd is not None and self.stdin_fd != self.master_fd:
            self.flush_stdin()
            os.close(self.stdin_fd)
            self.stdin_fd = None

    def resize(self, size: TtySize) -> None:
        if self.master_fd is not None:
            winsize = struct.pack("HHHH", size.rows, size.cols, 0, 0)
            with contextlib.suppress(OSError):  # the terminal is gone: its end is read soon
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, winsize)

    @property
    def wants_write(self) -> bool:
        return bool(self.stdin_pending) and self.stdin_fd is not None

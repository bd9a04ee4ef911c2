"""The command server: ``cove`` commands run in forks of a process that has cove imported.

Starting Python and importing cove's command line, engine and their standard modules
costs more than a hundred milliseconds on a small machine, more than the container
runtime itself needs to start a container. So, as Mercurial's chg does, the first
``cove`` command starts this server in the background (and runs itself as usual); later
commands hand their argv, environment, working directory, umask, limits and stdio to it
(see ``cmd_client``). Each command then runs in a fresh fork: nothing carries over from one
command to the next, and a command behaves as it would in a process of its own.

The server serves one runtime directory and one installation of cove. It leaves when idle
(``COVE_COMMAND_SERVER_IDLE`` seconds, 15 minutes by default), when a client of another
installation asks for it, or when one of its source files changed on disk; the client then
runs the command itself and starts a new server. If a client disappears (kill -9), its
command is killed as it would have been with it; if the server is killed, its clients report
it (exit code 125) and the next command starts a new one. ``COVE_COMMAND_SERVER=0`` turns it all off.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import pkgutil
import select
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

import cove
from cove.cli import cmd_wire as wire
from cove.host.process import die_with_parent

IDLE_DEFAULT = 900.0
REQUEST_TIMEOUT = 5.0
REQUEST_MAX = 16 << 20
# Signals a client may forward to its command (see cmd_client.FORWARDED, plus Ctrl-Z's stop).
FORWARDABLE = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGCONT,
        signal.SIGSTOP,
    }
)
# Modules not to load up front: entry points that act when imported, and this one.
NOT_PRELOADED = frozenset({"cove.__main__", "cove.monitor.main", __name__})
_CREDENTIALS = struct.Struct("3i")


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {message}\n")
    sys.stderr.flush()


def preload() -> Any:
    """Import every module of cove and build the full parser, once, before any fork."""
    from cove.cli.main import build_parser

    parser = build_parser([])
    for info in pkgutil.walk_packages(cove.__path__, "cove."):
        if info.name not in NOT_PRELOADED:
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # an optional part that cannot load here: commands will say so
                log(f"not preloaded: {info.name}: {exc}")
    return parser


def source_files() -> dict[str, int]:
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (name == "cove" or name.startswith("cove.")) and path:
            with contextlib.suppress(OSError):
                files[path] = os.stat(path).st_mtime_ns
    return files


class CommandServer:
    def __init__(self, paths: wire.Paths, lock: int, parser: Any, idle: float) -> None:
        self.paths = paths
        self.lock = lock
        self.parser = parser
        self.idle = idle
        self.key = wire.compatibility_key()
        self.files = source_files()
        self.workers: dict[int, socket.socket] = {}  # command PID -> its client's connection
        self.spare: tuple[int, socket.socket] | None = None  # a fork waiting for the next command
        self.listening: dict[int, int] = {}  # connection fd -> command PID, until the client hangs up
        self.draining = False
        self.terminating = False
        self.last_activity = time.monotonic()
        self.wake_r, self.wake_w = os.pipe()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.socket)
        self.listener.bind(paths.socket)
        os.chmod(paths.socket, 0o600)
        self.listener.listen(128)
        self.socket_inode = os.stat(paths.socket).st_ino
        with open(paths.pid, "w") as f:
            f.write(f"{os.getpid()}\n")

    # -- the loop --------------------------------------------------------------------------

    def serve(self) -> int:
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # Only noted here: the loop drains (closing the listener under a select() would break it).
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "terminating", True))
        for sig in (signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        log(f"serving {self.paths.socket}")
        self.fork_spare()
        while True:
            self.reap()
            if self.terminating:
                self.drain()
            if not self.workers and (self.draining or self.idle_for() >= self.idle):
                break
            timeout = None if self.workers else max(0.0, self.idle - self.idle_for())
            watched = [self.wake_r, *self.listening]
            if not self.draining:
                watched.append(self.listener.fileno())
            readable, _, _ = select.select(watched, [], [], timeout)
            for fd in readable:
                if fd == self.wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                elif fd == self.listener.fileno() and not self.draining:
                    self.accept()
                elif fd in self.listening:
                    self.client_readable(fd)
        self.drain()
        log("leaving")
        return 0

    def idle_for(self) -> float:
        return time.monotonic() - self.last_activity

    def drain(self) -> None:
        """Take no more commands, let a new server start at once; finish the running ones."""
        if self.draining:
            return
        self.draining = True
        with contextlib.suppress(OSError):
            if os.stat(self.paths.socket).st_ino == self.socket_inode:
                os.unlink(self.paths.socket)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.paths.pid)
        self.listener.close()
        os.close(self.lock)  # a new server may start while this one finishes its commands
        if self.spare is not None:
            self.spare[1].close()  # it sees the end of its channel and leaves
            self.spare = None

    def stale(self) -> bool:
        for path, mtime in self.files.items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False

    # -- clients ---------------------------------------------------------------------------

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:  # e.g. out of descriptors, or a client that already left
            if not isinstance(exc, BlockingIOError):
                log(f"accept: {exc}")
            return
        self.last_activity = time.monotonic()
        try:
            pid = self.start_command(conn)
        except (OSError, ValueError) as exc:
            log(f"bad request: {exc}")
            with contextlib.suppress(OSError):
                conn.sendall(b"stale\n")  # the client can still run its command itself
            pid = None
        if pid is None:
            conn.close()
            return
        conn.setblocking(False)
        self.workers[pid] = conn  # for the exit status, and the client's signals meanwhile
        self.listening[conn.fileno()] = pid
        if not self.draining:
            try:
                self.fork_spare()  # while the command runs
            except OSError as exc:  # the next command tries again
                log(f"fork: {exc}")

    def start_command(self, conn: socket.socket) -> int | None:
        """Fork the client's command; None when this server may not run it."""
        conn.settimeout(REQUEST_TIMEOUT)
        _pid, uid, _gid = _CREDENTIALS.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
        )
        if uid != os.getuid():
            conn.sendall(b"stale\n")  # not ours to serve: let it run the command itself
            return None
        payload, fds = receive_message(conn, 3)
        try:
            request = wire.decode_request(payload)
            if request.key != self.key or self.stale():
                log("leaving for another installation or newer sources of cove")
                self.drain()
                conn.sendall(b"stale\n")
                return None
            if self.spare is None:
                self.fork_spare()
            assert self.spare is not None
            pid, channel = self.spare
            self.spare = None
            with channel:
                send_message(channel, payload, [conn.fileno(), *fds])
            return pid
        finally:
            for fd in fds:
                os.close(fd)

    def fork_spare(self) -> None:
        """Fork ahead of time a process that waits for the next command: the fork, which
        copies this process's page tables, is then not on a command's way."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            ours.close()
            self.become_worker(theirs)
        theirs.close()
        self.spare = (pid, ours)

    def client_readable(self, fd: int) -> None:
        pid = self.listening[fd]
        conn = self.workers.get(pid)
        try:
            data = conn.recv(4096) if conn is not None else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client is gone (killed): so is its command, as it would have been
            del self.listening[fd]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        for line in data.splitlines():
            verb, _, value = line.partition(b" ")
            if verb == b"kill" and value.isdigit() and int(value) in FORWARDABLE:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, int(value))

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.last_activity = time.monotonic()
            if self.spare is not None and pid == self.spare[0]:
                self.spare[1].close()  # died waiting (killed?): the next command forks anew
                self.spare = None
            conn = self.workers.pop(pid, None)
            if conn is None:
                continue
            self.listening.pop(conn.fileno(), None)
            if os.WIFSIGNALED(status):
                reply = b"signal %d\n" % os.WTERMSIG(status)
            else:
                reply = b"exit %d\n" % os.WEXITSTATUS(status)
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.sendall(reply)
            conn.close()

    # -- a command -------------------------------------------------------------------------

    def become_worker(self, channel: socket.socket) -> None:
        """In a spare fork: wait for a command on ``channel``, take the client's place and run
        it; never returns."""
        code = 125
        try:
            # A command whose server is gone has no one to report to: it goes too, as a command
            # whose process is killed would (the client says so: exit code 125).
            die_with_parent(signal.SIGKILL)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.listener.close()
            for other in self.workers.values():
                other.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            try:
                payload, fds = receive_message(channel, 4, timeout=None)
            except ValueError:  # the server retired this spare
                os._exit(0)
            channel.close()
            conn = socket.socket(fileno=fds[0])
            code = run_command(wire.decode_request(payload), fds[1:], self.parser, conn)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)


def receive_message(
    conn: socket.socket, fd_count: int, timeout: float | None = REQUEST_TIMEOUT
) -> tuple[bytes, list[int]]:
    """A length header carrying ``fd_count`` descriptors, then the payload."""
    conn.settimeout(timeout)
    fds: list[int] = []
    try:
        data, ancillary, _flags, _addr = conn.recvmsg(wire.HEADER_SIZE, socket.CMSG_SPACE(fd_count * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])
        if not data:
            raise ValueError("no message")
        data += _receive_exactly(conn, wire.HEADER_SIZE - len(data))
        length = int.from_bytes(data, "big")
        if length > REQUEST_MAX or len(fds) != fd_count:
            raise ValueError("malformed command request")
        return _receive_exactly(conn, length), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def send_message(conn: socket.socket, payload: bytes, fds: list[int]) -> None:
    conn.sendmsg(
        [wire.header(len(payload))],
        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))],
    )
    conn.sendall(payload)


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    parts = []
    while size > 0:
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise ValueError("command request cut short")
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def run_command(request: wire.Request, fds: list[int], parser: Any, conn: socket.socket) -> int:
    """Become the client's command: its stdio, place, environment and limits; then run it,
    and tell the client its exit code as soon as its output is out."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)  # the copies on 0, 1, 2 are inheritable: runtimes started later get them
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    for name, value in request.env:
        with contextlib.suppress(ValueError):
            os.environb[name] = value
    time.tzset()
    os.umask(request.umask)
    _apply_rlimits(request.rlimits)
    _reopen_stdio()
    try:
        os.chdir(request.cwd)
    except OSError as exc:
        sys.stderr.write(f"Error: cannot enter the working directory: {exc.strerror}\n")
        return 125
    argv = [os.fsdecode(arg) for arg in request.argv]
    sys.argv = ["cove", *argv]
    from cove.cli.app import Cli  # loaded by preload() already
    from cove.cli.main import main

    cli = Cli(defer_close=True)
    code = main(argv, cli=cli, parser=parser)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(b"exit %d\n" % code)  # (the server reports again when this process ends)
    conn.close()
    cli.finish()  # housekeeping the client need not wait for
    return code


def _apply_rlimits(limits: list[tuple[int, int, int]]) -> None:
    import resource

    for number, soft, hard in limits:
        # Raising a hard limit needs CAP_SYS_RESOURCE: keep ours where the client's is higher.
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(number, (soft, hard))


def _reopen_stdio() -> None:
    """New text streams over the client's descriptors, buffered as Python would buffer them."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, encoding=encoding, errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding=encoding, errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout.reconfigure(line_buffering=os.isatty(1), write_through=unbuffered)
    sys.stderr = open(2, "w", encoding=encoding, errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr.reconfigure(line_buffering=True)


def main() -> int:
    os.closerange(3, 1 << 16)  # nothing of the client that started us stays open here
    paths = wire.paths(os.environ)
    lock = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another server runs, or is leaving: the next client will find or start one
    try:
        idle = float(os.environ.get("COVE_COMMAND_SERVER_IDLE") or IDLE_DEFAULT)
    except ValueError:
        idle = IDLE_DEFAULT
    parser = preload()
    import gc

    gc.freeze()  # the preloaded objects stay shared with the forks instead of being copied by GC
    return CommandServer(paths, lock, parser, idle).serve()


if __name__ == "__main__":
    sys.exit(main())

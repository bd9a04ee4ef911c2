"""The monitor's work: start the container with the runtime, then serve it until the end.

One thread, one ``select`` loop over: the unix socket and its clients, the container's
output (pipes or the pty master), a self-pipe for SIGCHLD, and the health probe. Timers
(stop deadline, next probe, restart back-off, holding output for the first attach) set
the loop's timeout.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

from cove.host import process
from cove.host.cgroups import oom_kills
from cove.host.locks import FileLock
from cove.host.mounts import unmount
from cove.host.runner import SubprocessRunner
from cove.logs.jsonfile import JsonFileWriter
from cove.monitor import protocol as p
from cove.monitor.health import HealthChecker
from cove.monitor.state import (
    CREATED,
    EXITED,
    RESTARTING,
    RUNNING,
    now_rfc3339,
    read_state,
    release_spare,
    reserve_spare,
    write_state,
)
from cove.runtime.oci import OciRuntime, RuntimeFailure, RuntimeInfo, error_from_log

MAIN = Path(__file__).resolve().parent / "main.py"
HOLD_OUTPUT_MAX = 10.0  # seconds to keep output unread while the first client attaches
CLIENT_BUFFER_MAX = 8 << 20
PARTIAL_LINE_MAX = 16 * 1024
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_BACKOFF_AFTER = 10.0
SAVE_RETRY = 1.0  # seconds between tries to write a state that could not be written
LINGER_MAX = 30.0  # how long an end that could not be written is kept (and served) at most
DROPS_REPORT = 5.0  # seconds between records of the log's dropped lines, while they grow


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.op: str | None = None
        self.request: dict[str, Any] = {}
        self.frames = p.FrameReader()
        self.closing = False

    def send(self, data: bytes) -> None:
        self.outbuf += data


class Supervisor:
    def __init__(self, config: dict[str, Any], ready_fd: int | None) -> None:
        self.cfg = config
        self.cid: str = config["id"]
        self.dir = Path(config["container_dir"])
        self.state_path = self.dir / "state.json"
        self.bundle = Path(config["bundle"])
        self.rootfs = Path(config["rootfs"])
        self.runtime = OciRuntime(
            RuntimeInfo(**config["runtime"]), Path(config["runtime_root"]), SubprocessRunner()
        )
        self.runtime_log = self.dir / "runtime.log"
        self.tty: bool = config.get("tty", False)
        self.open_stdin: bool = config.get("stdin", False)
        self.stdin_once: bool = config.get("stdin_once", False)
        self.restart_policy: str = config.get("restart", {}).get("name", "no") or "no"
        self.max_retries: int = int(config.get("restart", {}).get("max_retries", 0) or 0)
        self.stop_signal: int = int(config.get("stop_signal", signal.SIGTERM))
        self.stop_timeout: float = float(config.get("stop_timeout", 10))
        self.cgroups_path: str = config.get("cgroups_path", "")
        self.health = HealthChecker(config["health"]) if config.get("health") else None
        if self.health is not None and not self.health.enabled:
            self.health = None
        log = config["log"]
        self.log = JsonFileWriter(Path(log["path"]), int(log["max_size"]), int(log["max_files"]))
        self.ready_fd = ready_fd
        self.hold_until = time.monotonic() + HOLD_OUTPUT_MAX if config.get("hold_output") else 0.0

        self.state: dict[str, Any] = read_state(self.state_path)
        self.clients: dict[int, Client] = {}
        self.listener: socket.socket | None = None
        self.wake_r, self.wake_w = os.pipe()
        self.init_pid = 0
        self.exit_code: int | None = None
        self.outputs: dict[int, str] = {}  # fd -> stream name
        self.partial: dict[str, bytes] = {}
        self.stdin_fd: int | None = None  # where stdin frames go (pipe or pty master)
        self.stdin_pending = bytearray()
        self.master_fd: int | None = None
        self.manual_stop = False
        self.stop_deadline: float | None = None
        self.probe: tuple[int, int, str, float, bytearray] | None = None  # pid, fd, start, deadline, out
        self.started_mono = 0.0
        self.never_started = True
        self.auto_remove_argv: list[str] | None = config.get("auto_remove_argv")
        self.backoff = BACKOFF_START
        self.lock: FileLock | None = None
        # Attached `run --rm` commands that will remove the container themselves when it ends.
        self.removers = 0
        # A monitor forked from the cove command sheds that process image once the container runs.
        self.shed_after: float | None = config.get("shed_after")
        # When the state could not be written: when to try again (None: it is written).
        self.unsaved: float | None = None
        self.unsaved_vital = False
        self.drops_recorded = 0
        self.drops_recorded_at = 0.0
        self.leaving = False  # the last record is being written: no spare is needed after it

    # -- the whole life ------------------------------------------------------------------

    def run(self, adopted: dict[str, Any] | None = None) -> int:
        """Supervise until the end; ``adopted`` is the state handed over by a shed (see _shed)."""
        if adopted is None:
            lock = FileLock(self.dir / "monitor.lock")
            if not lock.acquire(blocking=False):
                self._ready({"ok": False, "error": "another monitor already supervises this container"})
                return 1
            process.become_subreaper()
            reserve_spare(self.state_path)  # for the exit record, should the disk fill up
        else:
            lock = FileLock.adopt(self.dir / "monitor.lock", int(adopted["lock_fd"]))
        self.lock = lock
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        if adopted is None:
            self._listen()
        else:
            self._restore(adopted)
        first = adopted is None
        resume = adopted is not None
        try:
            while True:
                if not resume:
                    error = self._start_container()
                    if error is not None:
                        self._record(status=CREATED if first else EXITED, error=error, pid=0, vital=True)
                        if first:
                            self._ready({"ok": False, "error": error})
                        self._finish_clients(None)
                        break
                    if first:
                        self._ready({"ok": True, "pid": self.init_pid})
                        first = False
                        self.never_started = False
                resume = False
                # While output is held for the first attach, an exit waits for that client too.
                self._serve(lambda: self.exit_code is not None and not self._holding())
                code = self.exit_code if self.exit_code is not None else 255
                self._after_exit(code)
                if not self._should_restart(code):
                    break
                ran = time.monotonic() - self.started_mono
                self.backoff = (
                    BACKOFF_START if ran >= RESET_BACKOFF_AFTER else min(self.backoff * 2, BACKOFF_MAX)
                )
                self._record(status=RESTARTING, vital=True)
                until = time.monotonic() + self.backoff
                self._serve(lambda until=until: self.manual_stop or time.monotonic() >= until, deadline=until)
                if self.manual_stop:
                    self._record(status=EXITED, vital=True)
                    break
                self.state["restart_count"] = int(self.state.get("restart_count", 0)) + 1
        finally:
            self._linger()
            self._shutdown()
            lock.release()
        if self.auto_remove_argv and not self.never_started and self.removers == 0:
            # --rm and nobody attached to do it: become `cove rm -f` for this container.
            env = {**os.environ, **(self.cfg.get("auto_remove_env") or {})}
            os.execve(self.auto_remove_argv[0], self.auto_remove_argv, env)
        return 0

    # -- shedding: from a fork of the cove command to a lean process of its own ------------------

    def _shed_due(self) -> bool:
        """Time to replace this process (a fork of the whole cove command) with a lean one?"""
        if self.shed_after is None or self.exit_code is not None or self.state.get("status") != RUNNING:
            return False
        if time.monotonic() - self.started_mono < self.shed_after:
            return False
        quiet = (
            not self.clients and self.probe is None and self.stop_deadline is None and not self.stdin_pending
        )
        return quiet and not self._holding()

    def _shed(self) -> None:
        """exec() a lean monitor that takes over every descriptor and the state: same PID, so
        the container's init stays our child and the lock stays held."""
        assert self.listener is not None and self.lock is not None
        health = None
        if self.health is not None:
            now = time.monotonic()
            health = {
                "status": self.health.status,
                "failing_streak": self.health.failing_streak,
                "log": self.health.log,
                "started_ago": now - self.health.started,
                "next_in": self.health.next_at - now,
            }
        handover = {
            "lock_fd": self.lock.fileno(),
            "listener": self.listener.fileno(),
            "outputs": {str(fd): stream for fd, stream in self.outputs.items()},
            "stdin_fd": self.stdin_fd,
            "master_fd": self.master_fd,
            "init_pid": self.init_pid,
            "ran": time.monotonic() - self.started_mono,
            "backoff": self.backoff,
            "partial": {k: base64.b64encode(v).decode() for k, v in self.partial.items()},
            "health": health,
        }
        path = self.dir / "monitor-handover.json"
        try:
            path.write_text(json.dumps(handover))
        except OSError:  # a full disk: stay this (larger) process rather than lose the container
            path.unlink(missing_ok=True)
            self.shed_after = None
            return
        passed = [self.lock.fileno(), self.listener.fileno(), *self.outputs, self.stdin_fd, self.master_fd]
        for fd in passed:
            if fd is not None:
                os.set_inheritable(fd, True)
        self.log.close()
        signal.set_wakeup_fd(-1)
        argv = [sys.executable, "-S", "-I", str(MAIN), self.cfg["config_path"], "--adopt", str(path)]
        os.execv(sys.executable, argv)

    def _restore(self, handover: dict[str, Any]) -> None:
        self.listener = socket.socket(fileno=int(handover["listener"]))
        self.listener.setblocking(False)
        self.outputs = {int(fd): stream for fd, stream in handover["outputs"].items()}
        self.stdin_fd = handover["stdin_fd"]
        self.master_fd = handover["master_fd"]
        self.init_pid = int(handover["init_pid"])
        self.started_mono = time.monotonic() - float(handover["ran"])
        self.backoff = float(handover["backoff"])
        self.partial = {k: base64.b64decode(v) for k, v in handover["partial"].items()}
        if self.health is not None and handover.get("health"):
            h = handover["health"]
            now = time.monotonic()
            self.health.status = h["status"]
            self.health.failing_streak = h["failing_streak"]
            self.health.log = h["log"]
            self.health.started = now - h["started_ago"]
            self.health.next_at = now + h["next_in"]
        self.never_started = False
        self.hold_until = 0.0
        self.shed_after = None
        self._reap()  # the container may have exited while this process was being replaced
        self._record()

    def _ready(self, message: dict[str, Any]) -> None:
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, (json.dumps(message) + "\n").encode())
        finally:
            os.close(self.ready_fd)
            self.ready_fd = None

    def _record(self, *, vital: bool = False, **changes: Any) -> None:
        """Update the state and write it. ``vital`` records (the container started, ended, is
        restarting) may use the spare beside the file when the disk is full."""
        self.state.update(changes)
        self.state["monitor_pid"] = os.getpid()
        if self.health is not None:
            self.state["health"] = self.health.to_state()
        self._note_log_drops()
        self._persist(vital)

    def _note_log_drops(self) -> None:
        """What the log lost (since this monitor started), for inspect's State.Error."""
        if self.log.dropped_lines:
            self.state.update(
                log_dropped_lines=self.log.dropped_lines,
                log_dropped_bytes=self.log.dropped_bytes,
                log_error=self.log.error,
            )
        else:
            for key in ("log_dropped_lines", "log_dropped_bytes", "log_error"):
                self.state.pop(key, None)
        self.drops_recorded = self.log.dropped_lines
        self.drops_recorded_at = time.monotonic()

    def _persist(self, vital: bool) -> None:
        """Write the state; when that fails, the state here stays the truth (served on the
        socket: wait, stop and attach replies) and the write is tried again every second."""
        try:
            write_state(self.state_path, self.state, spare=vital or self.unsaved_vital)
        except OSError as exc:
            if self.unsaved is None:
                with contextlib.suppress(OSError, ValueError):
                    print(f"cannot write {self.state_path}: {exc.strerror}", file=sys.stderr, flush=True)
            self.unsaved = time.monotonic() + SAVE_RETRY
            self.unsaved_vital = self.unsaved_vital or vital
            return
        self.unsaved = None
        self.unsaved_vital = False
        if not self.leaving:
            reserve_spare(self.state_path)  # (again, if it was used: a stat when it is there)

    def _listen(self) -> None:
        path = Path(self.cfg["socket"])
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock

    # -- starting ----------------------------------------------------------------------

    def _start_container(self) -> str | None:
        """Create and start the container; return the runtime's error, or None."""
        self.exit_code = None
        self.runtime_log.unlink(missing_ok=True)
        pid_file = self.dir / "init.pid"
        pid_file.unlink(missing_ok=True)
        devnull = os.open(os.devnull, os.O_RDWR)
        theirs: list[int] = []
        console: socket.socket | None = None
        console_path = Path(self.cfg["socket"] + ".console")
        try:
            if self.tty:
                console_path.unlink(missing_ok=True)
                console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                console.bind(str(console_path))
                console.listen(1)
                stdio = (devnull, devnull, devnull)
            else:
                if self.open_stdin:
                    r, w = os.pipe()
                    theirs.append(r)
                    self.stdin_fd = w
                    os.set_blocking(w, False)
                    stdin = r
                else:
                    stdin = devnull
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                theirs += [out_w, err_w]
                self.outputs = {out_r: "stdout", err_r: "stderr"}
                stdio = (stdin, out_w, err_w)
            # `run --detach` creates and starts in one runtime invocation (each costs milliseconds).
            argv = self.runtime.run_detached_argv(
                self.cid, self.bundle, pid_file, self.runtime_log, console_path if self.tty else None
            )
            pid = process.spawn(argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
            if console is not None:
                console.settimeout(30)
                try:
                    conn, _ = console.accept()
                except TimeoutError:
                    conn = None
                if conn is not None:
                    with conn:
                        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
                    self.master_fd = fds[0]
                    os.set_blocking(self.master_fd, False)
                    self.outputs = {self.master_fd: "stdout"}
                    self.stdin_fd = self.master_fd
                    size = self.cfg.get("tty_size")
                    if size:
                        self._resize(int(size[0]), int(size[1]))
            _, status = os.waitpid(pid, 0)
            if process.exit_code(status) != 0:
                self._close_outputs()
                if (self.runtime.state_root / self.cid).exists():
                    with contextlib.suppress(RuntimeFailure):
                        self.runtime.delete(self.cid, force=True)
                return error_from_log(self.runtime_log, "the runtime could not start the container")
            self.init_pid = int(pid_file.read_text().strip())
        finally:
            for fd in theirs:
                os.close(fd)
            os.close(devnull)
            if console is not None:
                console.close()
                console_path.unlink(missing_ok=True)
        self.started_mono = time.monotonic()
        self._record(
            vital=True,
            status=RUNNING,
            pid=self.init_pid,
            pid_start=process.start_time(self.init_pid),
            started_at=now_rfc3339(),
            exit_code=0,
            error="",
            oom_killed=False,
        )
        if self.health is not None:
            self.health.container_started()
        return None

    def _close_outputs(self) -> None:
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs = {}
        if self.stdin_fd is not None and self.stdin_fd != self.master_fd:
            os.close(self.stdin_fd)
        self.stdin_fd = None
        self.master_fd = None

    # -- the loop ----------------------------------------------------------------------

    def _serve(self, done: Any, deadline: float | None = None) -> None:
        while not done():
            if self._shed_due():
                self._shed()
            now = time.monotonic()
            due = (deadline, self.stop_deadline, self._probe_due(), self._hold_due(), self.unsaved)
            timers = [t for t in due if t]
            timeout = max(0.0, min(timers) - now) if timers else None
            read = [self.wake_r]
            if self.listener is not None:
                read.append(self.listener.fileno())
            read += list(self.clients)
            holding = self.hold_until and now < self.hold_until
            if not holding:
                read += list(self.outputs)
            if self.probe is not None:
                read.append(self.probe[1])
            write = [fd for fd, c in self.clients.items() if c.outbuf]
            if self.stdin_pending and self.stdin_fd is not None:
                write.append(self.stdin_fd)
            try:
                readable, writable, _ = select.select(read, write, [], timeout)
            except InterruptedError:
                continue
            for fd in readable:
                if fd == self.wake_r:
                    self._drain_wake()
                    self._reap()
                elif self.listener is not None and fd == self.listener.fileno():
                    self._accept()
                elif fd in self.clients:
                    self._client_readable(self.clients[fd])
                elif fd in self.outputs:
                    self._output_readable(fd)
                elif self.probe is not None and fd == self.probe[1]:
                    self._probe_readable()
            for fd in writable:
                if fd in self.clients:
                    self._client_writable(self.clients[fd])
                elif fd == self.stdin_fd:
                    self._flush_stdin()
            self._timers()

    def _holding(self) -> bool:
        return bool(self.hold_until) and time.monotonic() < self.hold_until

    def _hold_due(self) -> float | None:
        if self.hold_until and time.monotonic() < self.hold_until:
            return self.hold_until
        self.hold_until = 0.0
        return None

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while (result := process.reap(-1)) is not None:
            pid, code = result
            if pid == self.init_pid:
                self.exit_code = code
            elif self.probe is not None and pid == self.probe[0]:
                self._probe_finished(code)

    def _timers(self) -> None:
        now = time.monotonic()
        if self.unsaved is not None and now >= self.unsaved:
            self._persist(self.unsaved_vital)
        elif self.log.dropped_lines != self.drops_recorded and now >= self.drops_recorded_at + DROPS_REPORT:
            self._record()  # how much output the log lost, for inspect (a few times a minute at most)
        if self.stop_deadline is not None and now >= self.stop_deadline and self.exit_code is None:
            self._signal(signal.SIGKILL)
            self.stop_deadline = None
        due = self._probe_due()
        if due is not None and now >= due:
            if self.probe is None:
                self._probe_start()
            elif now >= self.probe[3]:
                self._probe_timeout()

    # -- output and logs -------------------------------------------------------------------

    def _output_readable(self, fd: int) -> None:
        stream = self.outputs[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
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
            return
        self._log(stream, data)
        kind = p.STDOUT if stream == "stdout" else p.STDERR
        message = p.frame(kind, data)
        for client in self.clients.values():
            if client.op == "attach" and client.request.get(stream, True):
                client.send(message)
                if len(client.outbuf) > CLIENT_BUFFER_MAX:
                    client.closing = True

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

    def _drain_outputs(self, timeout: float = 2.0) -> None:
        """Read what the container wrote before it died, up to EOF (or a short time limit)."""
        end = time.monotonic() + timeout
        self.hold_until = 0.0
        while self.outputs and time.monotonic() < end:
            readable, _, _ = select.select(list(self.outputs), [], [], max(0.0, end - time.monotonic()))
            if not readable:
                break
            for fd in readable:
                self._output_readable(fd)
        for stream in ("stdout", "stderr"):
            self._log_partial(stream)

    # -- stdin --------------------------------------------------------------------------

    def _stdin_data(self, data: bytes) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_pending += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
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

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None and self.stdin_fd != self.master_fd:
            self._flush_stdin()
            os.close(self.stdin_fd)
            self.stdin_fd = None

    def _resize(self, rows: int, cols: int) -> None:
        if self.master_fd is not None:
            fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # -- clients -------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != 0:
            sock.close()
            return
        sock.setblocking(False)
        self.clients[sock.fileno()] = Client(sock)

    def _drop(self, client: Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        if client.op == "attach" and client.request.get("remove") and self.exit_code is None:
            self.removers -= 1  # it went away (detached, killed) before the end: removal is ours again
        if client.op == "attach" and client.request.get("stdin") and self.stdin_once:
            self._close_stdin()
        client.sock.close()

    def _client_readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        if client.op is None:
            client.inbuf += data
            if b"\n" not in client.inbuf:
                return
            line, _, rest = bytes(client.inbuf).partition(b"\n")
            client.inbuf.clear()
            try:
                request = json.loads(line)
                client.op = str(request["op"])
                client.request = request
            except (ValueError, KeyError, TypeError):
                client.send(b'{"error": "bad request"}\n')
                client.closing = True
                return
            self._handle_request(client)
            data = rest
        if client.op == "attach" and data:
            try:
                frames = client.frames.feed(data)
            except ValueError:
                self._drop(client)
                return
            for kind, payload in frames:
                if kind == p.STDIN:
                    self._stdin_data(payload)
                elif kind == p.RESIZE:
                    self._resize(*p.parse_resize(payload))
                elif kind == p.CLOSE_STDIN:
                    self._close_stdin()

    def _client_writable(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
            del client.outbuf[:sent]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client)
            return
        if client.closing and not client.outbuf:
            self._drop(client)

    def _reply(self, client: Client, **fields: Any) -> None:
        client.send((json.dumps(fields) + "\n").encode())
        client.closing = True

    def _running(self) -> bool:
        return self.exit_code is None and self.init_pid > 0 and self.state.get("status") == RUNNING

    def _handle_request(self, client: Client) -> None:
        op = client.op
        req = client.request
        if op == "attach":
            self.hold_until = 0.0
            if req.get("remove"):
                self.removers += 1
            client.send((json.dumps({"ok": True, "status": self.state.get("status")}) + "\n").encode())
            if req.get("tty_size"):
                self._resize(int(req["tty_size"][0]), int(req["tty_size"][1]))
            if self._settled():
                self._finish_client(client, self.state.get("exit_code"))
        elif op == "stop":
            self.manual_stop = True
            if self._running():
                self._signal(int(req.get("signal") or self.stop_signal))
                grace = req.get("grace")
                grace = self.stop_timeout if grace is None else float(grace)
                self.stop_deadline = time.monotonic() + max(0.0, grace)
                client.request["wait"] = True
            elif self._settled():
                self._reply(client, ok=True, exit_code=self.state.get("exit_code"))
        elif op == "kill":
            sig = int(req.get("signal") or signal.SIGKILL)
            if sig in (signal.SIGKILL, self.stop_signal):
                self.manual_stop = True
            if self._running():
                self._signal(sig)
                self._reply(client, ok=True)
            else:
                self._reply(client, ok=False, error="container is not running")
        elif op == "wait":
            if self._settled():
                self._reply(client, ok=True, exit_code=self.state.get("exit_code"))
        elif op == "state":
            self._reply(client, ok=True, state=self.state)
        else:
            self._reply(client, ok=False, error=f"unknown request {op!r}")

    def _settled(self) -> bool:
        """Not running, not about to restart, and no exit still being recorded: the record is final.
        (Otherwise the client is answered when the exit is recorded.)"""
        return not self._running() and self.state.get("status") not in (RUNNING, RESTARTING)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, sig)

    def _finish_client(self, client: Client, exit_code: int | None) -> None:
        if client.op == "attach":
            client.send(p.frame(p.EXIT, json.dumps({"exit_code": exit_code}).encode()))
            client.closing = True
        elif client.op in ("wait", "stop"):
            self._reply(client, ok=True, exit_code=exit_code)

    def _finish_clients(self, exit_code: int | None) -> None:
        for client in list(self.clients.values()):
            if client.op in ("attach", "wait", "stop"):
                self._finish_client(client, exit_code)
        self._flush_clients()

    def _flush_clients(self, timeout: float = 2.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pending = [c for c in self.clients.values() if c.outbuf]
            if not pending:
                break
            _, writable, _ = select.select([], [c.sock.fileno() for c in pending], [], end - time.monotonic())
            for fd in writable:
                if fd in self.clients:
                    self._client_writable(self.clients[fd])
        for client in list(self.clients.values()):
            if client.closing:
                self._drop(client)

    # -- the exit ------------------------------------------------------------------------

    def _after_exit(self, code: int) -> None:
        self._drain_outputs()
        self._close_outputs()
        if self.probe is not None:
            self._probe_cancel()
        oom = bool(self.cgroups_path) and oom_kills(self.cgroups_path) > 0  # (before its cgroup goes)
        self.stop_deadline = None
        self._record(
            vital=True,
            # (a container about to be restarted is "restarting", never "exited" in between)
            status=RESTARTING if self._should_restart(code) else EXITED,
            exit_code=code,
            finished_at=now_rfc3339(),
            oom_killed=oom,
            pid=0,
            manual_stop=self.manual_stop,
        )
        # Those waiting hear of the exit first; the runtime's cleanup takes milliseconds, and
        # whatever needs it done (start, rm, a look at the rootfs) waits for this monitor.
        self._finish_clients(code)
        with contextlib.suppress(RuntimeFailure):
            self.runtime.delete(self.cid, force=True)

    def _should_restart(self, code: int) -> bool:
        if self.manual_stop:
            return False
        if self.restart_policy in ("always", "unless-stopped"):
            return True
        if self.restart_policy == "on-failure" and code != 0:
            return self.max_retries <= 0 or int(self.state.get("restart_count", 0)) < self.max_retries
        return False

    def _linger(self) -> None:
        """An end not yet written (the disk is full): stay a while, trying to write it, and
        answer those who ask (wait, stop, attach, state) from memory meanwhile."""
        until = time.monotonic() + LINGER_MAX
        self._serve(
            lambda: self.unsaved is None or time.monotonic() >= until or not self.dir.is_dir(),
            deadline=until,
        )

    def _shutdown(self) -> None:
        # Leaving with the container still running (this process failed) has no exit to tell:
        # a client told 0 here would report a run that never ended as a success.
        ended = self.state.get("status") not in (RUNNING, RESTARTING)
        self._finish_clients(self.state.get("exit_code") if ended else None)
        for client in list(self.clients.values()):
            self._drop(client)
        if self.listener is not None:
            self.listener.close()
            Path(self.cfg["socket"]).unlink(missing_ok=True)
        self.log.close()
        if not self.never_started:  # after a failed first start cove looks into the rootfs, then unmounts
            try:
                unmount(self.rootfs)
            except OSError:
                unmount(self.rootfs, lazy=True)
        self.state["monitor_pid"] = 0
        # So cove can wait for this process to end; not when it becomes `cove rm` (that would wait on itself).
        removing_itself = self.auto_remove_argv and not self.never_started and self.removers == 0
        self.state["last_monitor_pid"] = 0 if removing_itself else os.getpid()
        self.leaving = True
        self._persist(vital=True)
        release_spare(self.state_path)  # the next monitor reserves its own

    # -- health probes ---------------------------------------------------------------

    def _probe_due(self) -> float | None:
        if self.health is None or not self._running():
            return None
        if self.probe is not None:
            return self.probe[3]
        return self.health.next_at

    def _probe_start(self) -> None:
        assert self.health is not None and self.health.command is not None
        process_file = self.dir / "health-process.json"
        spec = json.loads((self.bundle / "config.json").read_text())["process"]
        spec["args"] = self.health.command
        spec["terminal"] = False
        r, w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            process_file.write_text(json.dumps(spec))
            pid = process.spawn(
                self.runtime.exec_argv(self.cid, process_file), stdin=devnull, stdout=w, stderr=w
            )
        except OSError as exc:  # (a full disk): a probe that could not run, as Docker records one
            os.close(r)
            now = now_rfc3339()
            self.health.record(now, now, -1, f"cannot run the health check: {exc.strerror}")
            self._record()
            return
        finally:
            os.close(w)
            os.close(devnull)
        os.set_blocking(r, False)
        self.probe = (pid, r, now_rfc3339(), time.monotonic() + self.health.timeout, bytearray())

    def _probe_readable(self) -> None:
        assert self.probe is not None
        try:
            data = os.read(self.probe[1], 65536)
        except BlockingIOError:
            return
        if data and len(self.probe[4]) < 65536:
            self.probe[4].extend(data)

    def _probe_finished(self, code: int) -> None:
        assert self.probe is not None and self.health is not None
        _pid, fd, start, deadline, out = self.probe
        try:
            while chunk := os.read(fd, 65536):
                out.extend(chunk)
        except BlockingIOError:
            pass
        os.close(fd)
        self.probe = None
        # (the start period is judged when the probe began, as Docker does)
        began = deadline - self.health.timeout
        self.health.record(start, now_rfc3339(), code, out.decode(errors="replace"), probe_started=began)
        self._record()

    def _probe_timeout(self) -> None:
        assert self.probe is not None and self.health is not None
        pid, fd, start, deadline, _out = self.probe
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
        self.probe = None
        self.health.record(
            start,
            now_rfc3339(),
            -1,
            f"Health check exceeded timeout ({self.health.timeout:g}s)",
            probe_started=deadline - self.health.timeout,
        )
        self._record()

    def _probe_cancel(self) -> None:
        assert self.probe is not None
        pid, fd, *_ = self.probe
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
        self.probe = None

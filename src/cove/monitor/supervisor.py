"""The monitor's work: start the container with the runtime, then serve it until the end.

One thread, one ``select`` loop over: the unix socket and its clients (clients.py), the
container's output (stdio.py), a self-pipe for SIGCHLD, and the health probe (probes.py).
Timers (stop deadline, next probe, restart back-off from restart.py, holding output for the
first attach) set the loop's timeout. The container's state (containers.state) is this
process's to write, and no one else's: every change is one of its transitions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cove.containers.state import (
    LIVE,
    STATE_FILE,
    ContainerState,
    LogDrops,
    Status,
    now_rfc3339,
    read_record,
    release_spare,
    reserve_spare,
    write_state,
)
from cove.host import process
from cove.host.cgroups import oom_kills
from cove.host.locks import FileLock
from cove.host.mounts import unmount
from cove.host.runner import SubprocessRunner
from cove.logs.jsonfile import JsonFileWriter
from cove.monitor.clients import Clients
from cove.monitor.config import MonitorConfig
from cove.monitor.handlers import Handlers
from cove.monitor.handover import HANDOVER_FILE, Handover, become_lean, health_timers
from cove.monitor.health import HealthChecker
from cove.monitor.probes import Prober
from cove.monitor.restart import Backoff
from cove.monitor.stdio import Stdio
from cove.runtime.oci import OciRuntime, RuntimeFailure, error_from_log

HOLD_OUTPUT_MAX = 10.0  # seconds to keep output unread while the first client attaches
SAVE_RETRY = 1.0  # seconds between tries to write a state that could not be written
LINGER_MAX = 30.0  # how long an end that could not be written is kept (and served) at most
DROPS_REPORT = 5.0  # seconds between records of the log's dropped lines, while they grow
EXPLAIN_WAIT = 10.0  # seconds a failed first start waits for cove's explanation of it


class Supervisor:
    def __init__(self, config: MonitorConfig, ready_fd: int | None) -> None:
        self.cfg = config
        self.cid = config.id
        self.dir = Path(config.container_dir)
        self.state_path = self.dir / STATE_FILE
        self.bundle = Path(config.bundle)
        self.rootfs = Path(config.rootfs)
        self.socket_path = Path(config.socket)
        self.runtime = OciRuntime(config.runtime, Path(config.runtime_root), SubprocessRunner())
        self.runtime_log = self.dir / "runtime.log"
        self.restart = config.restart
        self.backoff = Backoff()
        self.log = JsonFileWriter(Path(config.log.path), config.log.max_size, config.log.max_files)
        self.stdio = Stdio(self.log, tty=config.tty, open_stdin=config.stdin)
        self.handlers = Handlers(self)
        self.clients = Clients(self.handlers.request, self.handlers.frame, self.handlers.drop)
        checker = HealthChecker(config.health) if config.health is not None else None
        self.prober = (
            Prober(checker, self.runtime, self.cid, self.bundle, self.dir, self.record)
            if checker is not None and checker.enabled
            else None
        )
        self.ready_fd = ready_fd
        self.hold_until = time.monotonic() + HOLD_OUTPUT_MAX if config.hold_output else 0.0

        self.state = ContainerState.from_json(read_record(self.state_path))
        self.wake_r, self.wake_w = os.pipe()
        self.init_pid = 0
        self.exit_code: int | None = None
        self.manual_stop = False
        self.stop_deadline: float | None = None
        self.started_mono = 0.0
        self.never_started = True
        self.explaining = False  # a failed first start waits for cove to say why (StartFailed)
        self.lock: FileLock | None = None
        # Attached `run --rm` commands that will remove the container themselves when it ends.
        self.removers = 0
        # A monitor forked from the cove command sheds that process image once the container runs.
        self.shed_after = config.shed_after
        # When the state could not be written: when to try again (None: it is written).
        self.unsaved: float | None = None
        self.unsaved_vital = False
        self.drops_recorded = 0
        self.drops_recorded_at = 0.0
        self.leaving = False  # the last record is being written: no spare is needed after it

    # -- the whole life ------------------------------------------------------------------

    def run(self, adopted: Handover | None = None) -> int:
        """Supervise until the end; ``adopted`` is what a shed handed over (see handover.py)."""
        if adopted is None:
            lock = FileLock(self.dir / "monitor.lock")
            if not lock.acquire(blocking=False):
                self._ready({"ok": False, "error": "another monitor already supervises this container"})
                return 1
            process.become_subreaper()
            reserve_spare(self.state_path)  # for the exit record, should the disk fill up
            self.state = self.state.orphaned()  # a run no monitor saw end
        else:
            lock = FileLock.adopt(self.dir / "monitor.lock", adopted.lock_fd)
        self.lock = lock
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        if adopted is None:
            self.clients.listen(self.socket_path)
        else:
            self._restore(adopted)
        first = adopted is None
        resume = adopted is not None
        try:
            while True:
                if not resume:
                    error = self._start_container()
                    if error is not None:
                        self.record(self.state.start_failed(error, first=first), vital=True)
                        if first:
                            self._ready({"ok": False, "error": error})
                            self._await_explanation()
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
                if not self._after_exit(code):
                    break
                self._back_off(self.backoff.after_run(time.monotonic() - self.started_mono))
                if self.manual_stop:
                    self.record(self.state.restart_given_up(), vital=True)
                    break
                self.state = self.state.restart_counted()
        finally:
            self._linger()
            self._shutdown()
            lock.release()
        if self._removes_itself():
            # --rm and nobody attached to do it: become `cove rm -f` for this container.
            argv = self.cfg.auto_remove_argv
            assert argv is not None
            os.execve(argv[0], argv, {**os.environ, **self.cfg.auto_remove_env})
        return 0

    def _back_off(self, delay: float) -> None:
        """Serve for ``delay`` seconds before the restart (a stop ends the wait)."""
        until = time.monotonic() + delay
        self._serve(lambda: self.manual_stop or time.monotonic() >= until, deadline=until)

    def _removes_itself(self) -> bool:
        return bool(self.cfg.auto_remove_argv) and not self.never_started and self.removers == 0

    def _await_explanation(self) -> None:
        """cove looks into the rootfs to say why the start failed (126, 127...) and tells this
        monitor, the one writer of the record; it does not wait for a cove that went away."""
        self.explaining = True
        until = time.monotonic() + EXPLAIN_WAIT
        self._serve(lambda: not self.explaining or time.monotonic() >= until, deadline=until)
        self.explaining = False

    # -- shedding (handover.py) ----------------------------------------------------------

    def _shed_due(self) -> bool:
        """Time to replace this process (a fork of the whole cove command) with a lean one?"""
        if self.shed_after is None or self.exit_code is not None or self.state.status != Status.RUNNING:
            return False
        if time.monotonic() - self.started_mono < self.shed_after:
            return False
        probing = self.prober is not None and self.prober.probe is not None
        quiet = (
            not self.clients and not probing and self.stop_deadline is None and not self.stdio.stdin_pending
        )
        return quiet and not self._holding()

    def _shed(self) -> None:
        """exec() a lean monitor that takes over every descriptor and the state."""
        assert self.clients.listener is not None and self.lock is not None
        timers = None
        if self.prober is not None:
            checker = self.prober.checker
            timers = health_timers(checker.snapshot(), checker.started, checker.next_at)
        handover = Handover(
            lock_fd=self.lock.fileno(),
            listener=self.clients.listener.fileno(),
            outputs=dict(self.stdio.outputs),
            stdin_fd=self.stdio.stdin_fd,
            master_fd=self.stdio.master_fd,
            init_pid=self.init_pid,
            ran=time.monotonic() - self.started_mono,
            backoff=self.backoff.delay,
            partial=dict(self.stdio.partial),
            state=self.state,
            health=timers,
        )
        path = self.dir / HANDOVER_FILE
        try:
            handover.write(path)
        except OSError:  # a full disk: stay this (larger) process rather than lose the container
            path.unlink(missing_ok=True)
            self.shed_after = None
            return
        self.log.close()
        signal.set_wakeup_fd(-1)
        become_lean(handover, self.cfg.config_path, path)

    def _restore(self, handover: Handover) -> None:
        self.clients.adopt(handover.listener)
        self.stdio.outputs = dict(handover.outputs)
        self.stdio.stdin_fd = handover.stdin_fd
        self.stdio.master_fd = handover.master_fd
        self.stdio.partial = dict(handover.partial)
        self.init_pid = handover.init_pid
        self.state = handover.state
        self.started_mono = time.monotonic() - handover.ran
        self.backoff.delay = handover.backoff
        if self.prober is not None and handover.health is not None:
            now = time.monotonic()
            checker = self.prober.checker
            checker.restore(handover.health.health)
            checker.started = now - handover.health.started_ago
            checker.next_at = now + handover.health.next_in
        self.never_started = False
        self.hold_until = 0.0
        self.shed_after = None
        self._reap()  # the container may have exited while this process was being replaced
        self.record()

    def _ready(self, message: dict[str, object]) -> None:
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, (json.dumps(message) + "\n").encode())
        finally:
            os.close(self.ready_fd)
            self.ready_fd = None

    # -- the record -----------------------------------------------------------------------

    def record(self, state: ContainerState | None = None, *, vital: bool = False) -> None:
        """Take ``state`` (a transition of the current one) and write it. ``vital`` records
        (the container started, ended, is restarting) may use the spare beside the file when
        the disk is full."""
        state = state or self.state
        drops = LogDrops(self.log.dropped_lines, self.log.dropped_bytes, self.log.error)
        self.state = dataclasses.replace(
            state,
            monitor_pid=os.getpid(),
            health=self.prober.checker.snapshot() if self.prober is not None else state.health,
            log_drops=drops if drops.lines else LogDrops(),
        )
        self.drops_recorded = self.log.dropped_lines
        self.drops_recorded_at = time.monotonic()
        self._persist(vital)

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
        console_path = Path(self.cfg.socket + ".console")
        try:
            if self.cfg.tty:
                console_path.unlink(missing_ok=True)
                console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                console.bind(str(console_path))
                console.listen(1)
                stdio = (devnull, devnull, devnull)
            else:
                stdio, theirs = self.stdio.pipes(devnull)
            # `run --detach` creates and starts in one runtime invocation (each costs milliseconds).
            argv = self.runtime.run_detached_argv(
                self.cid, self.bundle, pid_file, self.runtime_log, console_path if self.cfg.tty else None
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
                    self.stdio.take_terminal(fds[0], self.cfg.tty_size)
            _, status = os.waitpid(pid, 0)
            if process.exit_code(status) != 0:
                self.stdio.close()
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
        if self.prober is not None:
            self.prober.checker.container_started()
        self.record(
            self.state.started(self.init_pid, process.start_time(self.init_pid), now_rfc3339()), vital=True
        )
        return None

    # -- the loop ----------------------------------------------------------------------

    def _serve(self, done: Callable[[], bool], deadline: float | None = None) -> None:
        while not done():
            if self._shed_due():
                self._shed()
            now = time.monotonic()
            due = (deadline, self.stop_deadline, self._probe_due(), self._hold_due(), self.unsaved)
            timers = [t for t in due if t]
            timeout = max(0.0, min(timers) - now) if timers else None
            read = [self.wake_r, *self.clients.read_fds]
            if not self._holding():
                read += list(self.stdio.outputs)
            probe_fd = self.prober.fd if self.prober is not None else None
            if probe_fd is not None:
                read.append(probe_fd)
            write = self.clients.write_fds
            if self.stdio.wants_write:
                assert self.stdio.stdin_fd is not None
                write.append(self.stdio.stdin_fd)
            try:
                readable, writable, _ = select.select(read, write, [], timeout)
            except InterruptedError:
                continue
            listener = self.clients.listener.fileno() if self.clients.listener is not None else None
            for fd in readable:
                if fd == self.wake_r:
                    self._drain_wake()
                    self._reap()
                elif fd == listener:
                    self.clients.accept()
                elif fd in self.clients.by_fd:
                    self.clients.readable(self.clients.by_fd[fd])
                elif fd in self.stdio.outputs:
                    chunk = self.stdio.read(fd)
                    if chunk is not None:
                        self.clients.broadcast(*chunk)
                elif self.prober is not None and fd == self.prober.fd:  # (None once it was reaped)
                    self.prober.readable()
            for fd in writable:
                if fd in self.clients.by_fd:
                    self.clients.writable(self.clients.by_fd[fd])
                elif fd == self.stdio.stdin_fd:
                    self.stdio.flush_stdin()
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
            elif self.prober is not None:
                self.prober.reaped(pid, code)

    def _probe_due(self) -> float | None:
        if self.prober is None or not self.running() or self.state.status != Status.RUNNING:
            return None
        return self.prober.due()

    def _timers(self) -> None:
        now = time.monotonic()
        if self.unsaved is not None and now >= self.unsaved:
            self._persist(self.unsaved_vital)
        elif self.log.dropped_lines != self.drops_recorded and now >= self.drops_recorded_at + DROPS_REPORT:
            self.record()  # how much output the log lost, for inspect (a few times a minute at most)
        if self.stop_deadline is not None and now >= self.stop_deadline and self.exit_code is None:
            self.signal(signal.SIGKILL)
            self.stop_deadline = None
        if self.prober is not None and self._probe_due() is not None:
            self.prober.tick(now)

    # -- requests (clients.py has checked them) ----------------------------------------------

    def running(self) -> bool:
        return (
            self.exit_code is None
            and self.init_pid > 0
            and self.state.status in (Status.RUNNING, Status.PAUSED)
        )

    def settled(self) -> bool:
        """Not running, not about to restart, and no exit still being recorded: the record is final.
        (Otherwise the client is answered when the exit is recorded.)"""
        return not self.running() and self.state.status not in LIVE

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, sig)

    def _finish_clients(self, exit_code: int | None) -> None:
        for client in self.clients:
            self.handlers.finish(client, exit_code)
        self.clients.flush()

    # -- the exit ------------------------------------------------------------------------

    def _after_exit(self, code: int) -> bool:
        """Record the exit; True when the restart policy restarts the container."""
        for chunk in self.stdio.drain():
            self.clients.broadcast(*chunk)
        self.hold_until = 0.0
        self.stdio.close()
        if self.prober is not None:
            self.prober.cancel()
        oom = bool(self.cfg.cgroups_path) and oom_kills(self.cfg.cgroups_path) > 0  # (before its cgroup goes)
        self.stop_deadline = None
        restarting = self.restart.should_restart(code, self.state.restart_count, stopped=self.manual_stop)
        self.record(
            self.state.exited(
                code, now_rfc3339(), oom_killed=oom, manual_stop=self.manual_stop, restarting=restarting
            ),
            vital=True,
        )
        # Those waiting hear of the exit first; the runtime's cleanup takes milliseconds, and
        # whatever needs it done (start, rm, a look at the rootfs) waits for this monitor.
        self._finish_clients(code)
        with contextlib.suppress(RuntimeFailure):
            self.runtime.delete(self.cid, force=True)
        return restarting

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
        ended = self.state.status not in LIVE
        self._finish_clients(self.state.exit_code if ended else None)
        self.clients.close(self.socket_path)
        self.log.close()
        if not self.never_started:  # after a failed first start cove looks into the rootfs, then unmounts
            try:
                unmount(self.rootfs)
            except OSError:
                unmount(self.rootfs, lazy=True)
        # So cove can wait for this process to end; not when it becomes `cove rm` (that would wait on itself).
        self.state = dataclasses.replace(
            self.state, monitor_pid=0, last_monitor_pid=0 if self._removes_itself() else os.getpid()
        )
        self.leaving = True
        self._persist(vital=True)
        release_spare(self.state_path)  # the next monitor reserves its own

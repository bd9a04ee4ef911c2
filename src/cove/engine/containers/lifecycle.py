"""A container's life after its start: stop, kill, restart, wait, pause and unpause, and what
is left to clear when a monitor is gone (settle, reset)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

from cove.containers import spec as container_spec
from cove.containers.store import ContainerRecord
from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.model import Container
from cove.errors import Conflict, CoveError, ExitStatusUnknown, Unavailable
from cove.host.locks import FileLock
from cove.monitor.state import EXITED, now_rfc3339, read_state, write_state
from cove.monitor.status import MONITOR_LOST, PAUSED, Status, read_status
from cove.runtime.oci import RuntimeFailure
from cove.units import parse_signal

DEFAULT_STOP_TIMEOUT = 10


class Lifecycle:
    def __init__(self, layout: ContainerLayout, start: Callable[[str], Container]) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes
        self.host = layout.host
        self._start = start  # restart's second half

    # -- stop, kill, restart -----------------------------------------------------------------

    def _stop_timeout(self, record: ContainerRecord, timeout: int | None) -> int:
        if timeout is not None:
            return timeout
        return record.config.stop_timeout if record.config.stop_timeout is not None else DEFAULT_STOP_TIMEOUT

    def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> Container:
        record = self.records.resolve(ref)
        status = read_status(self.layout.dir(record.id))
        if not status.running:
            return Container(record, status)
        wait = self._stop_timeout(record, timeout)
        sig = (
            parse_signal(signal_name)
            if signal_name
            # (the image's settings unknown: its StopSignal is too, and Docker's default is used)
            else container_spec.stop_signal(record.config, self.layout.image_config(record) or {})
        )
        if status.status == PAUSED:
            with contextlib.suppress(RuntimeFailure):
                self.unpause(record.id)
        if status.supervised:
            with contextlib.suppress(CoveError):  # the monitor may be gone already: then it is stopped
                self.layout.monitors.request(
                    self.layout.socket(record.id), "stop", timeout=None, signal=sig, grace=wait
                )
            self.wait_monitor(record.id)
        else:
            self.stop_unsupervised(record, status, sig, wait)
        return self.layout.get(record.id)

    def settle(self, cid: str, status: Status | None = None) -> None:
        """For a container that is not running: wait until its monitor, if it is still finishing
        (runtime state, rootfs mount), has let go of it."""
        status = status or read_status(self.layout.dir(cid))
        if status.supervised and not status.running:
            self.wait_monitor(cid)

    def wait_monitor(self, cid: str, timeout: float = 60.0) -> None:
        """Until the container's monitor has finished and exited."""
        state = read_state(self.layout.dir(cid) / "state.json")
        pid = int(state.get("monitor_pid") or state.get("last_monitor_pid") or 0)
        if not pid:
            return
        if FileLock(self.layout.dir(cid) / "monitor.lock").try_free():
            # Done with the container already (or a stale PID, now someone else's): only its
            # exit is left, which takes moments.
            timeout = min(timeout, 1.0)
        self.host.wait_exit(pid, timeout)

    def stop_unsupervised(self, record: ContainerRecord, status: Status, sig: int, wait: float) -> None:
        """Stop a container whose monitor died: signal its init directly, then clean up."""
        pid = status.pid
        if pid and self.host.kill(pid, sig) and not self.host.wait_exit(pid, wait):
            self.host.kill(pid, signal.SIGKILL)
            self.host.wait_exit(pid, 10.0)
        self.reset(record)
        # Not our child: whoever reaped it (PID 1, a subreaper) has its status, and whether it
        # died of the signal or exited after trapping it is not for us to guess.
        state = read_state(self.layout.dir(record.id) / "state.json")
        state.update(
            status=EXITED, pid=0, finished_at=now_rfc3339(), exit_code=None, error=MONITOR_LOST, monitor_pid=0
        )
        write_state(self.layout.dir(record.id) / "state.json", state)

    def kill(self, ref: str, signal_name: str = "SIGKILL") -> Container:
        record = self.records.resolve(ref)
        status = read_status(self.layout.dir(record.id))
        if not status.running:
            raise Conflict(f"cannot kill container: {ref}: container {record.id[:12]} is not running")
        sig = parse_signal(signal_name)
        if status.supervised:
            reply = self.layout.monitors.request(self.layout.socket(record.id), "kill", signal=sig)
            if not reply.get("ok"):
                raise Conflict(f"cannot kill container: {ref}: {reply.get('error')}")
        elif status.pid:
            self.host.kill(status.pid, sig)
        return Container(record, status)

    def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        self.stop(ref, timeout=timeout)
        return self._start(ref)

    def wait(self, ref: str, *, unsupervised: bool = True) -> int:
        """The container's exit code, once it is not running. Raises ExitStatusUnknown when its
        monitor died before recording it, or (``unsupervised`` False) when a container without a
        monitor still runs rather than waiting for an end whose code nobody will know."""
        record = self.records.resolve(ref)
        asked = False
        while True:
            status = read_status(self.layout.dir(record.id))
            if status.supervised and status.running and not asked:
                asked = True
                try:
                    reply = self.layout.monitors.request(self.layout.socket(record.id), "wait", timeout=None)
                except CoveError:  # the monitor finished as we asked, or died (look again)
                    self.wait_monitor(record.id)
                    continue
                code = reply.get("exit_code")
                if isinstance(code, int) and not isinstance(code, bool):
                    return code
                status = read_status(self.layout.dir(record.id))  # the monitor had none: its record
            elif status.running and not status.supervised:
                if not unsupervised:
                    raise ExitStatusUnknown(record.name, running=True)
                while status.pid and not self.host.wait_exit(status.pid, 3600.0):
                    pass
                continue
            break
        if status.running:
            raise Unavailable(
                f"the monitor of container {record.name} does not answer", hint=f"cove stop {record.name}"
            )
        if status.exit_code is None:
            raise ExitStatusUnknown(record.name)
        return status.exit_code

    def pause(self, ref: str) -> None:
        record = self.records.resolve(ref)
        status = read_status(self.layout.dir(record.id))
        if status.status == PAUSED:
            raise Conflict(f"container {record.id[:12]} is already paused")
        if not status.running:
            raise Conflict(f"container {record.id[:12]} is not running")
        self.layout.runtime_of(record).pause(record.id)
        (self.layout.dir(record.id) / PAUSED).touch()

    def unpause(self, ref: str) -> None:
        record = self.records.resolve(ref)
        status = read_status(self.layout.dir(record.id))
        if status.status != PAUSED:
            raise Conflict(f"container {record.id[:12]} is not paused")
        self.layout.runtime_of(record).resume(record.id)
        (self.layout.dir(record.id) / PAUSED).unlink(missing_ok=True)

    def reset(self, record: ContainerRecord) -> None:
        """Clear what a killed monitor may have left: runtime state and the rootfs mount."""
        runtime = self.layout.runtime_of(record)
        if (runtime.state_root / record.id).exists():  # the runtime still knows this container
            with contextlib.suppress(RuntimeFailure):
                runtime.delete(record.id, force=True)
        rootfs = self.layout.rootfs(record.id)
        if self.host.is_mountpoint(rootfs):
            self.host.unmount(rootfs, lazy=True)
        (self.layout.dir(record.id) / PAUSED).unlink(missing_ok=True)

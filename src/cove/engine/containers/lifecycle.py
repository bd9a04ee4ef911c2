"""A container's life after its start: stop, kill, restart, wait, pause and unpause, and what
is left to clear when a monitor is gone (settle, reset)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

from cove.containers import spec as container_spec
from cove.containers.state import ContainerState, Status
from cove.containers.store import ContainerRecord
from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.model import Container
from cove.errors import Conflict, CoveError, ExitStatusUnknown, Unavailable
from cove.host.locks import FileLock
from cove.monitor import protocol as requests
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
        status = self.layout.state(record.id)
        if not status.running:
            return Container(record, status)
        wait = self._stop_timeout(record, timeout)
        sig = (
            parse_signal(signal_name)
            if signal_name
            # (the image's settings unknown: its StopSignal is too, and Docker's default is used)
            else container_spec.stop_signal(record.config, self.layout.image_config(record) or {})
        )
        if status.supervised:  # (the monitor thaws a paused container first)
            with contextlib.suppress(CoveError):  # the monitor may be gone already: then it is stopped
                self.layout.monitors.request(
                    self.layout.socket(record.id), requests.Stop(signal=sig, grace=wait), timeout=None
                )
            self.wait_monitor(record.id)
        else:
            self.stop_unsupervised(record, status, sig, wait)
        return self.layout.get(record.id)

    def settle(self, cid: str, status: ContainerState | None = None) -> None:
        """For a container that is not running: wait until its monitor, if it is still finishing
        (runtime state, rootfs mount), has let go of it."""
        status = status or self.layout.state(cid)
        if status.supervised and not status.running:
            self.wait_monitor(cid)

    def wait_monitor(self, cid: str, timeout: float = 60.0) -> None:
        """Until the container's monitor has finished and exited."""
        state = self.layout.state(cid)
        pid = state.monitor_pid or state.last_monitor_pid
        if not pid:
            return
        if FileLock(self.layout.dir(cid) / "monitor.lock").try_free():
            # Done with the container already (or a stale PID, now someone else's): only its
            # exit is left, which takes moments.
            timeout = min(timeout, 1.0)
        self.host.wait_exit(pid, timeout)

    def stop_unsupervised(
        self, record: ContainerRecord, status: ContainerState, sig: int, wait: float
    ) -> None:
        """Stop a container whose monitor died: signal its init directly, then clean up. Its
        record stays as the dead monitor left it: the reader tells (as it did for the init that
        ended on its own) that it exited, with a status nobody saw; the next monitor writes it."""
        pid = status.pid
        if status.status == Status.PAUSED:
            with contextlib.suppress(RuntimeFailure):
                self.layout.runtime_of(record).resume(record.id)
        if pid and self.host.kill(pid, sig) and not self.host.wait_exit(pid, wait):
            self.host.kill(pid, signal.SIGKILL)
            self.host.wait_exit(pid, 10.0)
        # Not our child: whoever reaped it (PID 1, a subreaper) has its status, and whether it
        # died of the signal or exited after trapping it is not for us to guess.
        self.reset(record)

    def kill(self, ref: str, signal_name: str = "SIGKILL") -> Container:
        record = self.records.resolve(ref)
        status = self.layout.state(record.id)
        if not status.running:
            raise Conflict(f"cannot kill container: {ref}: container {record.id[:12]} is not running")
        sig = parse_signal(signal_name)
        if status.supervised:
            reply = self.layout.monitors.request(self.layout.socket(record.id), requests.Kill(signal=sig))
            if not reply.ok:
                raise Conflict(f"cannot kill container: {ref}: {reply.error}")
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
            status = self.layout.state(record.id)
            if status.supervised and status.running and not asked:
                asked = True
                try:
                    reply = self.layout.monitors.request(
                        self.layout.socket(record.id), requests.Wait(), timeout=None
                    )
                except CoveError:  # the monitor finished as we asked, or died (look again)
                    self.wait_monitor(record.id)
                    continue
                if reply.exit_code is not None:
                    return reply.exit_code
                status = self.layout.state(record.id)  # the monitor had none: its record
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
        self.layout.state(record.id).check_pause(record.id[:12])
        self._ask(record, requests.Pause())

    def unpause(self, ref: str) -> None:
        record = self.records.resolve(ref)
        self.layout.state(record.id).check_unpause(record.id[:12])
        self._ask(record, requests.Unpause())

    def _ask(self, record: ContainerRecord, message: requests.Request) -> None:
        """A change of the container's state: its monitor makes it (and records it)."""
        if not self.layout.state(record.id).supervised:
            raise Conflict(
                f"container {record.id[:12]} has no monitor (it died): stop or restart the container first"
            )
        reply = self.layout.monitors.request(self.layout.socket(record.id), message)
        if not reply.ok:
            raise Conflict(reply.error or f"container {record.id[:12]}: {message.op.value} failed")

    def reset(self, record: ContainerRecord) -> None:
        """Clear what a killed monitor may have left: runtime state and the rootfs mount."""
        runtime = self.layout.runtime_of(record)
        if (runtime.state_root / record.id).exists():  # the runtime still knows this container
            with contextlib.suppress(RuntimeFailure):
                runtime.delete(record.id, force=True)
        rootfs = self.layout.rootfs(record.id)
        if self.host.is_mountpoint(rootfs):
            self.host.unmount(rootfs, lazy=True)

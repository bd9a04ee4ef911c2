"""What each request does to the container: the monitor's verbs (attach, stop, kill, wait,
state, pause, unpause, and the explanation of a failed start), and the attach frames.

A request reaches here checked (clients.py); one the container's state does not allow
(containers.state's rules) or the runtime refuses is answered with its error.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import TYPE_CHECKING

from cove.containers.state import InvalidTransition, Status
from cove.monitor import protocol as p
from cove.monitor.clients import Client
from cove.runtime.oci import RuntimeFailure

if TYPE_CHECKING:
    from cove.monitor.supervisor import Supervisor


class Handlers:
    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor

    def request(self, client: Client, request: p.Request) -> None:
        try:
            self._handle(client, request)
        except (InvalidTransition, RuntimeFailure) as exc:
            client.reply(p.Reply(False, exc.message))

    def _handle(self, client: Client, request: p.Request) -> None:
        if isinstance(request, p.Attach):
            self.sup.hold_until = 0.0
            if request.remove:
                self.sup.removers += 1
            client.send(p.Reply(True, status=self.sup.state.status).encode())
            if request.tty_size is not None:
                self.sup.stdio.resize(request.tty_size)
            if self.sup.settled():
                self.finish(client, self.sup.state.exit_code)
        elif isinstance(request, p.Stop):
            self.sup.manual_stop = True
            if self.sup.running():
                self._resume_if_paused()
                self.sup.signal(request.signal or self.sup.cfg.stop_signal)
                grace = self.sup.cfg.stop_timeout if request.grace is None else request.grace
                self.sup.stop_deadline = time.monotonic() + max(0.0, grace)
            elif self.sup.settled():
                client.reply(p.Reply(True, exit_code=self.sup.state.exit_code))
        elif isinstance(request, p.Kill):
            sig = request.signal or signal.SIGKILL
            if sig in (signal.SIGKILL, self.sup.cfg.stop_signal):
                self.sup.manual_stop = True
            if not self.sup.running():
                raise InvalidTransition("container is not running")
            self.sup.signal(sig)
            client.reply(p.Reply(True))
        elif isinstance(request, p.Wait):
            if self.sup.settled():
                client.reply(p.Reply(True, exit_code=self.sup.state.exit_code))
        elif isinstance(request, p.GetState):
            client.reply(p.Reply(True, state=self.sup.state))
        elif isinstance(request, p.Pause):
            self.sup.state.check_pause(self.sup.cid[:12])
            if self.sup.prober is not None:
                self.sup.prober.cancel()  # a probe would hang in the frozen container until its timeout
            self.sup.runtime.pause(self.sup.cid)
            self.sup.record(self.sup.state.paused(self.sup.cid[:12]), vital=True)
            client.reply(p.Reply(True))
        elif isinstance(request, p.Unpause):
            self.sup.state.check_unpause(self.sup.cid[:12])
            self.sup.runtime.resume(self.sup.cid)
            self.sup.record(self.sup.state.unpaused(self.sup.cid[:12]), vital=True)
            client.reply(p.Reply(True))
        elif isinstance(request, p.StartFailed):
            if not self.sup.explaining:
                raise InvalidTransition("no failed start to explain")
            self.sup.record(
                self.sup.state.start_failed(request.error, first=True, exit_code=request.exit_code),
                vital=True,
            )
            self.sup.explaining = False
            client.reply(p.Reply(True))

    def _resume_if_paused(self) -> None:
        """A stop's signal reaches a paused container only once it is thawed."""
        if self.sup.state.status == Status.PAUSED:
            with contextlib.suppress(RuntimeFailure):
                self.sup.runtime.resume(self.sup.cid)
            self.sup.record(self.sup.state.unpaused(self.sup.cid[:12]), vital=True)

    def frame(self, client: Client, kind: int, payload: bytes) -> None:
        if kind == p.STDIN:
            self.sup.stdio.write_stdin(payload)
        elif kind == p.RESIZE:
            self.sup.stdio.resize(p.parse_resize(payload))
        elif kind == p.CLOSE_STDIN:
            self.sup.stdio.close_stdin()

    def drop(self, client: Client) -> None:
        attach = client.attached
        if attach is None:
            return
        if attach.remove and self.sup.exit_code is None:
            self.sup.removers -= 1  # it went away (detached, killed) before the end: removal is ours again
        if attach.stdin and self.sup.cfg.stdin_once:
            self.sup.stdio.close_stdin()

    def finish(self, client: Client, exit_code: int | None) -> None:
        if client.answered:
            return
        if isinstance(client.request, p.Attach):
            client.send(p.exit_frame(exit_code))
            client.answered = True
            client.closing = True
        elif isinstance(client.request, p.Wait | p.Stop):
            client.reply(p.Reply(True, exit_code=exit_code))

"""Health probes: one ``runtime exec`` of the check at a time, read, timed out, recorded."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cove.containers.state import now_rfc3339
from cove.host import process
from cove.monitor.health import HealthChecker
from cove.runtime.oci import OciRuntime

OUTPUT_MAX = 65536


@dataclass
class Probe:
    pid: int
    fd: int
    start: str  # when it began, as the log says it
    deadline: float  # monotonic
    out: bytearray = field(default_factory=bytearray)


class Prober:
    def __init__(
        self,
        checker: HealthChecker,
        runtime: OciRuntime,
        container_id: str,
        bundle: Path,
        container_dir: Path,
        on_result: Callable[[], None],
    ) -> None:
        self.checker = checker
        self.runtime = runtime
        self.cid = container_id
        self.bundle = bundle
        self.dir = container_dir
        self.on_result = on_result
        self.probe: Probe | None = None

    @property
    def fd(self) -> int | None:
        return self.probe.fd if self.probe is not None else None

    def due(self) -> float:
        """When the next thing is to happen: a probe to start, or the running one's deadline."""
        return self.probe.deadline if self.probe is not None else self.checker.next_at

    def tick(self, now: float) -> None:
        if now < self.due():
            return
        if self.probe is None:
            self.start()
        else:
            self.timed_out()

    def start(self) -> None:
        assert self.checker.command is not None
        process_file = self.dir / "health-process.json"
        spec = json.loads((self.bundle / "config.json").read_text())["process"]
        spec["args"] = self.checker.command
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
            self.checker.record(now, now, -1, f"cannot run the health check: {exc.strerror}")
            self.on_result()
            return
        finally:
            os.close(w)
            os.close(devnull)
        os.set_blocking(r, False)
        self.probe = Probe(pid, r, now_rfc3339(), time.monotonic() + self.checker.timeout)

    def readable(self) -> None:
        if self.probe is None:
            return
        try:
            data = os.read(self.probe.fd, 65536)
        except BlockingIOError:
            return
        if data and len(self.probe.out) < OUTPUT_MAX:
            self.probe.out.extend(data)

    def reaped(self, pid: int, code: int) -> bool:
        """The probe ``pid`` ended with ``code`` (if it is ours): record its result."""
        if self.probe is None or pid != self.probe.pid:
            return False
        probe, self.probe = self.probe, None
        try:
            while chunk := os.read(probe.fd, 65536):
                probe.out.extend(chunk)
        except BlockingIOError:
            pass
        os.close(probe.fd)
        # (the start period is judged when the probe began, as Docker does)
        began = probe.deadline - self.checker.timeout
        self.checker.record(
            probe.start, now_rfc3339(), code, probe.out.decode(errors="replace"), probe_started=began
        )
        self.on_result()
        return True

    def timed_out(self) -> None:
        assert self.probe is not None
        probe, self.probe = self.probe, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(probe.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(probe.pid, 0)
        os.close(probe.fd)
        self.checker.record(
            probe.start,
            now_rfc3339(),
            -1,
            f"Health check exceeded timeout ({self.checker.timeout:g}s)",
            probe_started=probe.deadline - self.checker.timeout,
        )
        self.on_result()

    def cancel(self) -> None:
        if self.probe is None:
            return
        probe, self.probe = self.probe, None
        try:
            os.kill(probe.pid, signal.SIGKILL)
            os.waitpid(probe.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(probe.fd)

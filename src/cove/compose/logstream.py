"""Several containers' logs as one stream of labelled lines (``logs``, ``logs -f``, attached ``up``).

Without ``follow`` the logs are read one container after another and merged by time, so the
result is the project's log in order (Docker Compose prints them as its goroutines race).
With ``follow`` each container has a thread that feeds one bounded queue, so lines of
different containers come out as they are written; a watcher polls the project for
containers that start (new ones, and restarts of those that stopped) and follows them too,
and puts an exit line when one stops. The stream ends when every followed container has
stopped (Docker Compose's ``logs -f``), or when ``close`` is called.

The engine's log reader gives no way to interrupt a follow that waits for output, so the
reading threads are daemons: ``close`` returns at once and each thread ends at its
container's next line or its exit, never blocking on the queue once the stream is closed.
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cove.compose import names
from cove.engine.container_types import Status
from cove.errors import CoveError, NotFound
from cove.oci.timestamps import timestamp

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.engine.containers.model import Container

STDOUT = "stdout"
STDERR = "stderr"
EXIT = "exit"  # not a log line: the container stopped (``text`` says how, ``exit_code`` has its code)

QUEUE_SIZE = 1024
POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log (without its newline), or its exit (``stream == EXIT``)."""

    name: str  # as Docker Compose labels it: the container's name without its project, ``web-1``
    service: str
    stream: str  # STDOUT, STDERR or EXIT
    time: float  # Unix time the engine recorded (the exit's observation time for EXIT)
    text: str
    container_id: str = ""
    exit_code: int | None = None  # EXIT only


def display_name(container: Container) -> str:
    """``web-1`` for ``app-web-1``; a ``container_name:`` is shown whole, as Docker Compose does."""
    labels = container.record.config.labels
    project = labels.get(names.PROJECT, "")
    name = container.record.name
    default = names.container_name(project, labels.get(names.SERVICE, ""), _number(labels))
    if project and name == default:
        return name[len(project) + 1 :]
    return name


def _number(labels: dict[str, str]) -> int:
    try:
        return int(labels.get(names.CONTAINER_NUMBER, "0"))
    except ValueError:
        return 0


def _split(text: str) -> list[str]:
    """The lines of one log entry (an entry is a line with its newline, or a partial one)."""
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def _lines(backend: EngineBackend, container: Container, **options: object) -> Iterator[LogLine]:
    name = display_name(container)
    service = container.record.config.labels.get(names.SERVICE, "")
    cid = container.record.id
    for stream, moment, text in backend.logs(cid, **options):  # type: ignore[arg-type]
        for line in _split(text):
            yield LogLine(name, service, stream, moment, line, cid)


def exit_line(container: Container, now: float | None = None) -> LogLine:
    state = container.status
    code = state.exit_code if state.exit_code is not None else -1
    text = f"exited with code {code}"
    if state.status == Status.RESTARTING:
        text += " (restarting)"
    return LogLine(
        display_name(container),
        container.record.config.labels.get(names.SERVICE, ""),
        EXIT,
        time.time() if now is None else now,
        text,
        container.record.id,
        code,
    )


def project_containers(
    backend: EngineBackend, project: str, services: Iterable[str] = (), *, all: bool = True
) -> list[Container]:
    """The project's service containers (not ``run``'s one-offs), of ``services`` when given,
    in name order."""
    wanted = set(services)
    found = backend.list_containers(names.project_filter(project, oneoff="False"), all=all)
    chosen = [c for c in found if not wanted or c.record.config.labels.get(names.SERVICE) in wanted]
    return sorted(chosen, key=lambda c: c.record.name)


def merged(
    backend: EngineBackend,
    containers: Iterable[Container],
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Iterator[LogLine]:
    """The containers' logs as they are now, merged in time order (each log is in order); a
    container removed meanwhile has no lines."""
    sources = [_quietly(_lines(backend, c, tail=tail, since=since, until=until)) for c in containers]
    return heapq.merge(*sources, key=lambda line: line.time)


def _quietly(lines: Iterator[LogLine]) -> Iterator[LogLine]:
    try:
        yield from lines
    except NotFound:
        return


class LogStream:
    """Follow the logs of a project's containers as one stream: iterate it for ``LogLine``s.

    ``containers``: the ones to follow from the start; ``discover``: when given, called every
    ``poll`` seconds for the containers that should be followed (the project's, as they are
    now), so that containers which start later join the stream. ``stop_when_idle``: end once
    nothing followed is running (``logs -f``); attached ``up`` passes False and closes it."""

    def __init__(
        self,
        backend: EngineBackend,
        containers: Iterable[Container] = (),
        *,
        discover: Callable[[], list[Container]] | None = None,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        poll: float = POLL_INTERVAL,
        stop_when_idle: bool = True,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.backend = backend
        self._initial = list(containers)
        self._discover = discover
        self._tail, self._since, self._until = tail, since, until
        self._poll = poll
        self._stop_when_idle = stop_when_idle
        self._queue: queue.Queue[LogLine] = queue.Queue(maxsize=queue_size)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._followers: dict[str, threading.Thread] = {}  # container ID -> its reader
        self._runs: dict[str, str] = {}  # container ID -> the start of the run last followed
        self._watcher: threading.Thread | None = None
        self._started = False

    # -- the consumer's side ----------------------------------------------------------------

    def __iter__(self) -> Iterator[LogLine]:
        self.start()
        while True:
            try:
                yield self._queue.get(timeout=0.1)
                continue
            except queue.Empty:
                pass
            if self._closed.is_set() or self._finished():
                # (what was queued before the last reader ended is read first)
                while True:
                    try:
                        yield self._queue.get_nowait()
                    except queue.Empty:
                        return

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for container in self._initial:
            self._follow(container, tail=self._tail, since=self._since)
        if self._discover is not None or self._stop_when_idle:
            self._watcher = threading.Thread(target=self._watch, name="compose-logs-watch", daemon=True)
            self._watcher.start()

    def close(self) -> None:
        """Stop: the iteration ends at once; the readers end as soon as they wake."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _finished(self) -> bool:
        with self._lock:
            readers = any(t.is_alive() for t in self._followers.values())
        watching = self._watcher is not None and self._watcher.is_alive()
        return not readers and not watching and self._queue.empty()

    # -- the producers' side ----------------------------------------------------------------

    def _put(self, line: LogLine) -> bool:
        """Queue one line, waiting while the queue is full; False once the stream is closed."""
        while not self._closed.is_set():
            try:
                self._queue.put(line, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _follow(
        self, container: Container, *, tail: int | None, since: float | None, joined: bool = False
    ) -> None:
        cid = container.record.id
        with self._lock:
            running = self._followers.get(cid)
            if running is not None and running.is_alive():
                return
            self._runs[cid] = container.status.started_at
            thread = threading.Thread(
                target=self._read,
                args=(container, tail, since, joined or container.status.running),
                name=f"compose-logs-{cid[:12]}",
                daemon=True,
            )
            self._followers[cid] = thread
        thread.start()

    def _read(self, container: Container, tail: int | None, since: float | None, announce: bool) -> None:
        """Queue the container's lines, then its exit when it ``announce``s one (it was running
        when the stream took it, or started since: not one that had stopped before)."""
        try:
            lines = _lines(self.backend, container, follow=True, tail=tail, since=since, until=self._until)
            for line in lines:
                if not self._put(line):
                    return
        except CoveError:
            pass  # the container went (removed while followed): its lines end here
        if self._closed.is_set() or not announce:
            return
        try:
            now = self.backend.get_container(container.record.id)
        except CoveError:
            return
        if not now.status.running or now.status.status == Status.RESTARTING:
            self._put(exit_line(now))

    def _watch(self) -> None:
        while not self._closed.wait(self._poll):
            if self._discover is not None:
                try:
                    found = self._discover()
                except CoveError:
                    found = []
                for container in found:
                    self._maybe_follow(container)
            if self._stop_when_idle and self._idle():
                return

    def _maybe_follow(self, container: Container) -> None:
        """Follow a container that started since the last look: a new one from its first
        line (it may have ended already), one that ran before from its new start."""
        cid, started = container.record.id, container.status.started_at
        if not started:
            return  # created, not started yet
        with self._lock:
            reader = self._followers.get(cid)
            if reader is not None and reader.is_alive():
                return
            before = self._runs.get(cid)
        if before == started:
            return  # this run was read already
        since = None if before is None else _started(container)
        self._follow(container, tail=None, since=since, joined=True)

    def _idle(self) -> bool:
        with self._lock:
            followers = list(self._followers.items())
        if any(t.is_alive() for _, t in followers):
            return False
        # Nothing is being read: idle unless a followed container is back (its restart's reader
        # starts at the next poll).
        for cid, _ in followers:
            with contextlib.suppress(CoveError):
                if self.backend.get_container(cid).status.running:
                    return False
        return True


def _started(container: Container) -> float | None:
    moment = timestamp(container.status.started_at)
    return moment or None

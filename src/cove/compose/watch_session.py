"""One `compose watch`: the watched services' rules, an inotify watch of their paths, and each
batch of changes handled as Docker Compose does (rebuild, then sync, then restart, then the
sync+exec commands; a failure is reported and watching goes on)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from cove.compose.errors import ComposeError
from cove.compose.model import Hook, Project, Service, WatchAction
from cove.compose.watch import (
    Batch,
    Debouncer,
    Trigger,
    WatchActionFailed,
    bind_mounted,
    check_service,
    dockerignore_of,
    go_names,
    plan,
    triggers_of,
)
from cove.compose.watch_sync import Syncer, service_containers
from cove.errors import CoveError

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend

POLL = 0.5  # seconds between looks at the stop flag while nothing changes
LARGE_BATCH = 1000


class Rebuilder(Protocol):
    """What the rebuild action needs: build the services' images, then recreate their
    containers from them (and start them)."""

    def build(self, services: Sequence[str]) -> None: ...

    def recreate(self, services: Sequence[str]) -> None: ...


def selected(project: Project, services: Sequence[str]) -> list[Service]:
    """The named services and what they depend on (all of them when none is named)."""
    if not services:
        return list(project.services.values())
    wanted: dict[str, None] = {}
    todo = list(services)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in project.services:
            raise ComposeError(f"no such service: {name}")
        wanted[name] = None
        todo += [d for d in project.services[name].dependencies() if d in project.services]
    return [s for n, s in project.services.items() if n in wanted]


class Session:
    def __init__(
        self,
        project: Project,
        backend: EngineBackend,
        *,
        services: Sequence[str] = (),
        rebuilder: Rebuilder | None = None,
        build: bool = True,
        log: Callable[[str], None] = print,
        warn: Callable[[str], None] = print,
        hook_output: tuple[int, int] = (1, 2),
        debouncer: Debouncer | None = None,
    ) -> None:
        self.project = project
        self.backend = backend
        self.rebuilder = rebuilder
        self.log = log
        self.warn = warn
        self.hook_output = hook_output
        self.debouncer = debouncer or Debouncer()
        self.syncer = Syncer(backend, project.name)
        self.services = selected(project, services)
        self.triggers: list[Trigger] = []
        self.roots: list[str] = []
        for service in self.services:
            if service.develop is None:
                continue
            check_service(service, build=build)
            if rebuilder is None and any(r.action is WatchAction.REBUILD for r in service.develop.watch):
                raise ComposeError(f"service {service.name}: the rebuild action is not available here")
            for trigger in triggers_of(service, dockerignore_of(service)):
                path = trigger.rule.path
                if trigger.rule.action.syncs and bind_mounted(path, service):
                    self.warn(
                        f"path '{path}' also declared by a bind mount volume, this path won't be monitored!"
                    )
                    continue
                self.triggers.append(trigger)
                self.roots.append(path)
        if not self.roots:
            raise ComposeError(
                "none of the selected services is configured for watch, consider setting a 'develop' section"
            )

    # -- the initial sync ------------------------------------------------------------------

    def initial_sync(self) -> None:
        """Copy in what the sync rules asking for it (``initial_sync``) watch, before watching."""
        for trigger in self.triggers:
            if not (
                trigger.rule.initial_sync
                and trigger.rule.action in (WatchAction.SYNC, WatchAction.SYNC_RESTART)
            ):
                continue
            service = self.project.services[trigger.service]
            mappings = [
                m
                for path in _files_under(trigger.rule.path)
                if (m := trigger.matches(path)) is not None and not bind_mounted(path, service)
            ]
            if mappings:
                self.syncer.sync(trigger.service, mappings)

    # -- handling a batch ------------------------------------------------------------------

    def handle(self, paths: Sequence[str]) -> Batch:
        """Do what the changed ``paths`` call for; a failure is reported, not raised."""
        if len(paths) > LARGE_BATCH:
            self.warn(
                f"Very large batch of file changes detected: {len(paths)} files. This may impact performance."
            )
            self.log("Large batch of file changes detected. If you just switched branches, this is expected.")
        batch = plan(paths, self.triggers)
        try:
            self._apply(batch)
        except CoveError as e:
            self.warn(f"Error handling changed files: {e}")
        return batch

    def _apply(self, batch: Batch) -> None:
        if batch.rebuild:
            self._rebuild(batch.rebuild)
        for service, mappings in batch.sync.items():
            self.log(f'Syncing service "{service}" after {len(mappings)} changes were detected')
            self.syncer.sync(service, mappings)
        if batch.restart:
            for service in batch.restart:
                self._restart(self.project.services[service])
            self.log(f"service(s) {go_names(batch.restart)} restarted")
        for service, hooks in batch.exec.items():
            for hook in hooks:
                self._exec(service, hook)

    def _rebuild(self, services: Sequence[str]) -> None:
        assert self.rebuilder is not None  # refused at the start otherwise
        names = go_names(services)
        self.log(f"Rebuilding service(s) {names} after changes were detected...")
        try:
            self.rebuilder.build(services)
        except CoveError as e:
            self.log(f"Build failed. Error: {e}")
            raise
        self.log(f"service(s) {names} successfully built")
        try:
            self.rebuilder.recreate(services)
        except CoveError as e:
            self.log(f"Failed to recreate services after update. Error: {e}")
            raise

    def _restart(self, service: Service) -> None:
        timeout = int(service.stop_grace_period) if service.stop_grace_period is not None else None
        for container in service_containers(self.backend, self.project.name, service.name):
            self.backend.restart_container(container.record.id, timeout=timeout)

    def _exec(self, service: str, hook: Hook) -> None:
        env = [f"{k}={v}" for k, v in hook.environment.items() if v is not None]
        for container in service_containers(self.backend, self.project.name, service, all=False):
            code = self.backend.exec_process(
                container.record.id,
                list(hook.command),
                env=env,
                user=hook.user,
                workdir=hook.working_dir,
                privileged=hook.privileged,
                stdout=self.hook_output[0],
                stderr=self.hook_output[1],
            )
            if code != 0:
                raise WatchActionFailed(f"exec in {container.record.name} exited with code {code}")

    # -- watching --------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, ready: Callable[[], None] | None = None) -> None:
        """Watch until ``stop`` is set (or KeyboardInterrupt)."""
        from cove.host.inotify import TreeWatcher  # noqa: PLC0415 - the OS, only while watching

        stop = stop or threading.Event()
        self.initial_sync()
        with TreeWatcher(self.roots) as watcher:
            self.log("Watch enabled")
            if ready is not None:
                ready()
            while not stop.is_set():
                wait = self.debouncer.timeout()
                self.debouncer.add(watcher.read(POLL if wait is None else min(wait, POLL)))
                paths = self.debouncer.take()
                if paths:
                    self.handle(paths)


def _files_under(root: str) -> list[str]:
    """Every file under ``root`` (``root`` itself when it is a file), for the initial sync."""
    if os.path.isfile(root):
        return [root]
    out = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        out += [os.path.join(directory, f) for f in sorted(files)]
    return out

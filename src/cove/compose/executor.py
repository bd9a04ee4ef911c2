"""Runs a plan (``cove.compose.plan``) on the engine: services in dependency order, the
independent ones in parallel on a few worker threads, each dependent only once its
dependencies meet their condition.

One scheduler thread decides and polls; the workers only call the engine. A service is
ready when each service it depends on has finished its actions and is in the condition
asked: started, healthy (the engine runs the health checks, honouring start_interval; this
polls their status) or completed successfully (exited 0). A dependency that cannot get there
(unhealthy, exited, exited non-zero) stops the run at once: nothing more is started, the
work under way finishes, and the error names the container and why, in Docker Compose's
words. ``stop_containers`` is the way back: dependents first, level by level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from cove.compose import graph
from cove.compose.errors import ComposeError
from cove.compose.model import Condition, Project, Service
from cove.compose.plan import Action, Plan, Verb
from cove.compose.progress import Event, Kind, Phase, Report
from cove.compose.state import Observed
from cove.engine.container_types import HealthStatus, Status
from cove.engine.requests import PullPolicy
from cove.errors import NotFound

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.compose.convert import ServiceContainer
    from cove.engine.requests import MountSpec

WORKERS = 4
POLL = 0.05  # seconds between looks at a dependency's health or exit

Make = Callable[[Service, int], "ServiceContainer"]
BeforeStart = Callable[[Service, str], None]  # (service, container ID): secrets and configs


@dataclass(frozen=True)
class Settings:
    start: bool = True  # False: --no-start (create only)
    timeout: int | None = None  # -t: seconds to stop a container being recreated or removed
    pull: PullPolicy = PullPolicy.MISSING  # what create does when the image is missing
    workers: int = WORKERS
    poll: float = POLL
    renew_anon_volumes: bool = False  # -V: a recreated container's anonymous volumes go with it


def _warn(report: Report, name: str, detail: str) -> None:
    report(Event(Kind.SERVICE, name, "Warning", Phase.WARNING, detail))


def _inherit(mounts: Sequence[MountSpec], old: Sequence[tuple[MountSpec, bool]]) -> list[MountSpec]:
    """``mounts`` where each anonymous volume at a target of an old one is that old one, plus
    the old ones at the image's VOLUMEs (``old``: (mount, at an image VOLUME)) that ``mounts``
    leave free (the engine would make new ones there)."""
    by_target = {m.target.rstrip("/"): (m, from_image) for m, from_image in old}
    out = []
    for mount in mounts:
        before = by_target.pop(mount.target.rstrip("/"), None)
        if before is not None and mount.type == "volume" and not mount.source:
            mount = dataclasses.replace(mount, source=before[0].source)  # noqa: PLW2901
        out.append(mount)
    taken = {m.target.rstrip("/") for m in mounts}
    return out + [m for target, (m, from_image) in by_target.items() if from_image and target not in taken]


class _Run:
    def __init__(
        self,
        backend: EngineBackend,
        project: Project,
        plan: Plan,
        make: Make,
        report: Report,
        settings: Settings,
        before_start: BeforeStart | None,
    ) -> None:
        self.backend, self.project, self.plan = backend, project, plan
        self.make, self.report, self.settings = make, report, settings
        self.before_start = before_start
        self.ids: dict[str, list[str]] = {s: [] for s in plan.services}  # each service's containers
        self.names: dict[str, str] = {}  # container ID -> name
        self.said: set[tuple[str, str]] = set()  # (container, word): the Waiting events made
        self.tick = threading.Event()  # never set: a sleep

    # -- the workers' part: one action, in two halves ----------------------------------------

    def prepare(self, action: Action) -> str | None:
        """The first half of an action, which needs no dependency started: create, recreate
        (stop, remove, create), remove. The container's ID after it (None: gone)."""
        service = self.project.services[action.service]
        old = action.container
        report, backend = self.report, self.backend
        if action.verb is Verb.CREATE:
            return self.create(service, action.number)
        assert old is not None
        self.names[old.id] = old.name
        if action.verb is Verb.RECREATE:
            report(Event(Kind.CONTAINER, old.name, "Recreate", Phase.WORKING))
            inherited = [] if self.settings.renew_anon_volumes else self.anonymous_volumes(old.id)
            if old.running:
                backend.stop_container(old.id, timeout=self.settings.timeout)
            backend.remove_container(old.id, force=True, volumes=self.settings.renew_anon_volumes)
            cid = self.create(service, action.number, quiet=True, inherit=inherited)
            report(Event(Kind.CONTAINER, self.names[cid], "Recreated"))
            return cid
        if action.verb is Verb.REMOVE:
            remove_one(backend, old, report, timeout=self.settings.timeout, remove=True)
            return None
        if action.verb is Verb.NOOP:
            report(Event(Kind.CONTAINER, old.name, "Running" if old.running else "Created"))
        return old.id

    def finish(self, action: Action, cid: str) -> str:
        """The second half, once the dependencies are in their conditions: start, restart."""
        if action.verb is Verb.RESTART:
            name = self.names[cid]
            self.report(Event(Kind.CONTAINER, name, "Restarting", Phase.WORKING))
            self.backend.restart_container(cid, timeout=self.settings.timeout)
            self.report(Event(Kind.CONTAINER, name, "Restarted"))
        elif action.verb in (Verb.CREATE, Verb.RECREATE, Verb.START) and self.settings.start:
            self.start(cid)
        return cid

    def anonymous_volumes(self, cid: str) -> list[tuple[MountSpec, bool]]:
        """The container's anonymous volumes (and whether each is at one of its image's
        VOLUMEs), which its replacement keeps: Docker Compose's recreate (``-V``: new ones)."""
        config = self.backend.get_container(cid).record.config
        image_volumes = {p.rstrip("/") for p in config.image_defaults.get("Volumes") or {}}
        out = []
        for mount in config.mounts:
            if mount.type == "volume" and mount.source:
                with contextlib.suppress(NotFound):
                    if self.backend.get_volume(mount.source).anonymous:
                        out.append((mount, mount.target.rstrip("/") in image_volumes))
        return out

    def create(
        self,
        service: Service,
        number: int,
        *,
        quiet: bool = False,
        inherit: Sequence[tuple[MountSpec, bool]] = (),
    ) -> str:
        made = self.make(service, number)
        if not quiet:
            self.report(Event(Kind.CONTAINER, made.name, "Creating", Phase.WORKING))
        config = made.config
        if inherit:
            config = dataclasses.replace(config, mounts=_inherit(config.mounts, inherit))
        container = self.backend.create_container(config, made.name, pull=self.settings.pull)
        cid = container.record.id
        self.names[cid] = made.name
        for more in made.more_networks:
            self.backend.connect_container(
                more.network, cid, aliases=list(more.aliases), ip=more.ipv4_address
            )
        if self.before_start is not None:
            self.before_start(service, cid)
        if not quiet:
            self.report(Event(Kind.CONTAINER, made.name, "Created"))
        return cid

    def start(self, cid: str) -> None:
        name = self.names.get(cid, cid)
        self.report(Event(Kind.CONTAINER, name, "Starting", Phase.WORKING))
        self.backend.start_container(cid)
        self.report(Event(Kind.CONTAINER, name, "Started"))

    # -- the scheduler's part: is a service ready to go? --------------------------------------

    def may_prepare(self, name: str, done: set[str], made: Collection[str]) -> bool:
        """Creating needs less than starting: a dependency that shares its namespaces with
        this one must be started, one it waits on to be healthy or done must be so (what
        fails is then never created, nor what needs it), one that only needs to be started
        must be created (and may be starting meanwhile)."""
        for edge in graph.edges(self.project.services[name]):
            if edge.dependency not in self.plan.actions:
                continue
            if edge.dependency not in done and (edge.shares or edge.dependency not in made):
                return False
            if edge.condition is not Condition.STARTED and self.settings.start and not self.ready(name, done):
                return False
        return True

    def ready(self, name: str, done: set[str]) -> bool:
        """True when every dependency of ``name`` is in its condition, False while one is not
        yet; ComposeError when one cannot be."""
        for edge in graph.edges(self.project.services[name]):
            dep = edge.dependency
            if dep not in self.project.services:
                if not edge.required:
                    self.once(name, dep, "optional dependency is not available")
                continue
            if dep not in self.plan.actions:  # not part of this run (--no-deps, or not named)
                continue
            if dep not in done:
                return False
            if not self.settings.start or edge.condition is Condition.STARTED:
                continue
            try:
                if not self.condition_met(dep, edge.condition):
                    return False
            except ComposeError as failure:
                if edge.required:
                    raise
                self.once(name, dep, str(failure))
        return True

    def once(self, service: str, dep: str, why: str) -> None:
        if (dep, why) not in self.said:
            self.said.add((dep, why))
            _warn(self.report, service, f"{why}: {dep}" if "optional" in why else why)

    def fail(self, name: str, message: str) -> NoReturn:
        self.report(Event(Kind.CONTAINER, name, "Error", Phase.ERROR, message))
        raise ComposeError(message)

    def condition_met(self, dep: str, condition: Condition) -> bool:
        met = True
        for cid in self.ids[dep]:
            name = self.names.get(cid, cid)
            if (name, "Waiting") not in self.said:
                self.said.add((name, "Waiting"))
                self.report(Event(Kind.CONTAINER, name, "Waiting", Phase.WORKING))
            c = Observed.of(self.backend.get_container(cid))
            if condition is Condition.HEALTHY:
                if c.health is HealthStatus.HEALTHY:
                    word = "Healthy"
                elif c.status in (Status.EXITED, Status.DEAD):
                    self.fail(name, f"dependency failed to start: container {name} exited ({c.exit_code})")
                elif c.health is HealthStatus.UNHEALTHY:
                    self.fail(name, f"dependency failed to start: container {name} is unhealthy")
                elif c.health is None and c.running:
                    self.fail(
                        name, f"dependency failed to start: container {name} has no healthcheck configured"
                    )
                else:
                    met = False
                    continue
            else:
                if c.running or c.status is Status.CREATED:
                    met = False
                    continue
                if c.exit_code != 0:
                    self.fail(name, f'service "{dep}" didn\'t complete successfully: exit {c.exit_code}')
                word = "Exited"
            if (name, word) not in self.said:
                self.said.add((name, word))
                self.report(Event(Kind.CONTAINER, name, word))
        return met

    def run(self) -> dict[str, list[str]]:
        new = list(self.plan.services)  # not begun
        made: list[str] = []  # prepared, waiting to start
        done: set[str] = set()
        outstanding: dict[str, int] = {}
        # each job: (the action, its half: True for the second) -> the container's ID
        futures: dict[Future[str | None], tuple[Action, bool]] = {}
        prepared: dict[str, list[tuple[Action, str | None]]] = {}
        prepared_set: set[str] = set()  # the services whose first halves are done
        failure: BaseException | None = None

        def submit(name: str, jobs: Sequence[tuple[Action, bool, str | None]]) -> None:
            outstanding[name] = len(jobs)
            for action, second, cid in jobs:
                job = self.finish if second else self.prepare
                args = (action, cid) if second else (action,)
                futures[pool.submit(job, *args)] = (action, second)

        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers)) as pool:
            try:
                while new or made or futures:
                    for name in list(made):
                        if self.ready(name, done):
                            made.remove(name)
                            starts = [(a, True, cid) for a, cid in prepared[name] if cid is not None]
                            if starts:
                                submit(name, starts)
                            else:
                                done.add(name)
                    for name in list(new):
                        if self.may_prepare(name, done, prepared_set):
                            new.remove(name)
                            prepared[name] = []
                            jobs: list[tuple[Action, bool, str | None]] = [
                                (a, False, None) for a in self.plan.actions.get(name, ())
                            ]
                            if jobs:
                                submit(name, jobs)
                            else:
                                made.append(name)
                                prepared_set.add(name)
                    if not futures:
                        if not any(self._may_progress(n, done) for n in [*new, *made]):
                            break  # (the latter cannot happen for a plan made of the graph's levels)
                        self.tick.wait(self.settings.poll)  # a dependency's condition, not yet met
                        continue
                    finished, _ = wait(
                        list(futures),
                        timeout=self.settings.poll if (new or made) else None,
                        return_when=FIRST_COMPLETED,
                    )
                    for future in finished:
                        action, second = futures.pop(future)
                        cid = future.result()  # an engine error ends the run
                        name = action.service
                        if second:
                            self.ids[name].append(cid)  # type: ignore[arg-type]
                        else:
                            prepared[name].append((action, cid))
                        outstanding[name] -= 1
                        if outstanding[name] == 0:
                            if second:
                                done.add(name)
                            else:
                                made.append(name)
                                prepared_set.add(name)
            except BaseException as exc:
                failure = exc
                # Nothing more starts; what is under way finishes (a half-made container is
                # worse than a whole one), its own errors second to the first.
                for future in futures:
                    future.cancel()
                for future in list(futures):
                    if not future.cancelled():
                        try:
                            cid = future.result()
                        except BaseException:
                            continue
                        if cid is not None:
                            self.ids[futures[future][0].service].append(cid)
        if failure is not None:
            raise failure
        return self.ids

    def _may_progress(self, name: str, done: set[str]) -> bool:
        deps = [e.dependency for e in graph.edges(self.project.services[name])]
        return all(d in done or d not in self.plan.actions for d in deps)


def run_plan(
    backend: EngineBackend,
    project: Project,
    plan: Plan,
    make: Make,
    report: Report,
    settings: Settings = Settings(),
    *,
    before_start: BeforeStart | None = None,
) -> dict[str, list[str]]:
    """Run ``plan``: the IDs of each planned service's containers after it. Orphans go first
    when the plan says so."""
    if plan.remove_orphans:
        for_each(
            plan.orphans,
            lambda c: remove_one(backend, c, report, timeout=settings.timeout, remove=True),
            workers=settings.workers,
        )
    elif plan.orphans:
        report(orphan_warning(project.name, plan.orphans))
    return _Run(backend, project, plan, make, report, settings, before_start).run()


def orphan_warning(project: str, orphans: Sequence[Observed]) -> Event:
    found = ", ".join(o.name for o in orphans)
    return Event(
        Kind.SERVICE,
        project,
        "Warning",
        Phase.WARNING,
        f"Found orphan containers ([{found}]) for this project. If you removed or renamed this service"
        " in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
    )


# -- the way down ------------------------------------------------------------------------------


def remove_one(
    backend: EngineBackend,
    container: Observed,
    report: Report,
    *,
    timeout: int | None = None,
    remove: bool = True,
    volumes: bool = False,
    after: Sequence[threading.Event] = (),
    stopped: threading.Event | None = None,
) -> None:
    """Stop one container (when it runs) and, with ``remove``, remove it: its stop once the
    ``after`` events are set (its dependents stopped), then it sets ``stopped``."""
    name = container.name
    try:
        for event in after:
            event.wait()
        try:
            if container.running:
                report(Event(Kind.CONTAINER, name, "Stopping", Phase.WORKING))
                backend.stop_container(container.id, timeout=timeout)
                report(Event(Kind.CONTAINER, name, "Stopped"))
        finally:
            if stopped is not None:
                stopped.set()
        if remove:
            report(Event(Kind.CONTAINER, name, "Removing", Phase.WORKING))
            backend.remove_container(container.id, force=True, volumes=volumes)
            report(Event(Kind.CONTAINER, name, "Removed"))
    except NotFound:  # gone meanwhile (another down): what was asked
        report(Event(Kind.CONTAINER, name, "Removed" if remove else "Stopped"))


def for_each(
    containers: Iterable[Observed], fn: Callable[[Observed], object], *, workers: int = WORKERS
) -> None:
    """``fn`` on each container, a few at a time; the first error is raised after all ran."""
    items = list(containers)
    if not items:
        return
    if len(items) == 1:
        fn(items[0])
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        futures = [pool.submit(fn, c) for c in items]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]


def stop_containers(
    backend: EngineBackend,
    containers: Mapping[str, Sequence[Observed]],
    levels: Sequence[Collection[str]],
    report: Report,
    *,
    timeout: int | None = None,
    remove: bool = False,
    volumes: bool = False,
    workers: int = WORKERS,
) -> None:
    """Stop (and with ``remove``, remove) ``containers`` by service: the services of no level
    first (orphans), then ``levels`` from the last (the dependents) to the first. A level's
    containers stop in parallel once the level before has stopped (its removal may still be
    under way: only stopping has an order). The first error is raised once all is done."""
    placed = {s for level in levels for s in level}
    waves = [[s for s in containers if s not in placed], *(list(level) for level in reversed(levels))]
    jobs = [[c for s in wave for c in containers.get(s, ())] for wave in waves]
    jobs = [wave for wave in jobs if wave]
    if not jobs:
        return
    # (FIFO: a job waits only on jobs submitted before it, which a worker has taken already)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, sum(len(w) for w in jobs)))) as pool:
        before: list[threading.Event] = []
        futures = []
        for wave in jobs:
            events = [threading.Event() for _ in wave]
            futures += [
                pool.submit(
                    remove_one,
                    backend,
                    c,
                    report,
                    timeout=timeout,
                    remove=remove,
                    volumes=volumes,
                    after=before,
                    stopped=event,
                )
                for c, event in zip(wave, events, strict=True)
            ]
            before = events
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]

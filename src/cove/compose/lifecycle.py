"""The project's lifecycle commands: up (and create), down, start, stop, restart, kill, rm,
pause, unpause. Each observes the project by its labels, decides, and calls the engine through
the backend; ``up`` and ``down`` hold the project's lock, so two at once do not both create
(or half remove) its containers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from cove.compose import executor, graph, resources, secrets
from cove.compose.convert import ServiceContainer, config_hash, service_container
from cove.compose.errors import ComposeError
from cove.compose.executor import Settings
from cove.compose.images import RemoveImages, ensure_images, images_to_remove
from cove.compose.model import Condition, Project, Service
from cove.compose.plan import Action, Options, Plan, Recreate, Verb, make_plan
from cove.compose.progress import Event, Kind, Phase, Report
from cove.compose.state import Observed, ProjectState, observe
from cove.engine.container_types import HealthStatus, Status
from cove.engine.requests import PullPolicy
from cove.errors import CoveError, NotFound

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.compose.secrets import InjectedFile
    from cove.engine.requests import MountSpec


@dataclass(frozen=True)
class UpRequest:
    services: tuple[str, ...] = ()
    no_deps: bool = False
    recreate: Recreate = Recreate.DIVERGED
    recreate_dependencies: Recreate = Recreate.DIVERGED
    scale: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    remove_orphans: bool = False
    start: bool = True  # False: create only
    timeout: int | None = None
    pull: str | None = None  # --pull: always, missing, never, build
    build: bool | None = None  # --build: True, --no-build: False
    wait: bool = False
    wait_timeout: float | None = None
    renew_anon_volumes: bool = False
    workers: int = executor.WORKERS


@dataclass(frozen=True)
class UpResult:
    plan: Plan
    containers: Mapping[str, list[str]]  # each planned service's container IDs


def _image_ids(backend: EngineBackend, images: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for service, ref in images.items():
        found = backend.image_id(ref)
        if found is not None:
            out[service] = found
    return out


def _maker(
    backend: EngineBackend, project: Project, images: Mapping[str, str], report: Report
) -> executor.Make:
    """Each container's config (convert.py), with another container's mounts for volumes_from;
    what the engine does not do as Docker's would is said once per service."""
    warned: set[str] = set()
    lock = threading.Lock()

    def mounts_of(name: str) -> list[MountSpec]:
        return list(backend.get_container(name).record.config.mounts)

    def make(service: Service, number: int) -> ServiceContainer:
        made = service_container(
            project, service, number, image=images.get(service.name), mounts_of=mounts_of
        )
        with lock:
            if service.name not in warned:
                warned.add(service.name)
                for warning in made.warnings:
                    report(Event(Kind.SERVICE, service.name, "Warning", Phase.WARNING, warning))
        return made

    return make


def _before_start(backend: EngineBackend, project: Project) -> executor.BeforeStart:
    """Secrets and configs into each created container, before it starts."""
    cache: dict[str, list[InjectedFile]] = {}

    def inject(service: Service, cid: str) -> None:
        if service.name not in cache:
            cache[service.name] = secrets.service_files(project, service)
        secrets.inject(backend, cid, cache[service.name])

    return inject


def up(
    backend: EngineBackend,
    project: Project,
    request: UpRequest,
    report: Report,
    *,
    every_service: Callable[[], Collection[str]] | None = None,
) -> UpResult:
    """``every_service``: the services the files define, disabled ones included (asked only when
    the project has containers of services not enabled, to tell orphans from those)."""
    options = Options(
        services=request.services,
        no_deps=request.no_deps,
        recreate=request.recreate,
        recreate_dependencies=request.recreate_dependencies,
        scale=request.scale,
        remove_orphans=request.remove_orphans,
        start=request.start,
    )
    with backend.project_lock(project.name):
        state = observe(backend, project.name)
        hashes = {name: config_hash(s) for name, s in project.services.items()}
        first = make_plan(project, state, options, hashes=hashes)  # (checks the options early)
        images = ensure_images(
            backend, project, first.services, pull=request.pull, build=request.build, report=report
        )
        known = None
        if state.orphans(project.services) and every_service is not None:
            known = {*every_service(), *project.services}
        plan = make_plan(
            project, state, options, hashes=hashes, images=_image_ids(backend, images), known=known
        )
        resources.ensure_networks(backend, project, plan.services, report)
        resources.ensure_volumes(backend, project, plan.services, report)
        settings = Settings(
            start=request.start,
            timeout=request.timeout,
            pull=PullPolicy.MISSING,
            workers=request.workers,
            renew_anon_volumes=request.renew_anon_volumes,
        )
        make = _maker(backend, project, images, report)
        before = _before_start(backend, project)
        ids = executor.run_plan(backend, project, plan, make, report, settings, before_start=before)
    if request.wait and request.start:
        wait_ready(backend, project, ids, report, timeout=request.wait_timeout)
    return UpResult(plan, ids)


def _completed_ok(project: Project) -> set[str]:
    """The services something waits on to complete: one-shots, which --wait lets exit 0."""
    return {
        d.service
        for s in project.services.values()
        for d in s.depends_on
        if d.condition is Condition.COMPLETED_SUCCESSFULLY
    }


def wait_ready(
    backend: EngineBackend,
    project: Project,
    ids: Mapping[str, list[str]],
    report: Report,
    *,
    timeout: float | None = None,
    poll: float = executor.POLL,
) -> None:
    """``up --wait``: until every container runs (healthy, when it has a health check)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    one_shots = _completed_ok(project)
    left = {cid: service for service, cids in ids.items() for cid in cids}
    said: set[str] = set()
    while left:
        for cid, service in list(left.items()):
            c = Observed.of(backend.get_container(cid))
            if c.name not in said:
                said.add(c.name)
                report(Event(Kind.CONTAINER, c.name, "Waiting", Phase.WORKING))
            if c.status in (Status.EXITED, Status.DEAD):
                if c.exit_code == 0 and service in one_shots:
                    report(Event(Kind.CONTAINER, c.name, "Exited"))
                    del left[cid]
                    continue
                report(Event(Kind.CONTAINER, c.name, "Error", Phase.ERROR))
                raise ComposeError(f"container {c.name} exited ({c.exit_code})")
            if c.health is HealthStatus.UNHEALTHY:
                report(Event(Kind.CONTAINER, c.name, "Error", Phase.ERROR))
                raise ComposeError(f"container {c.name} is unhealthy")
            if c.status is Status.RUNNING and c.health in (None, HealthStatus.HEALTHY):
                report(Event(Kind.CONTAINER, c.name, "Healthy" if c.health else "Running"))
                del left[cid]
        if left:
            if deadline is not None and time.monotonic() > deadline:
                raise ComposeError(f"application not healthy after {timeout:g}s")
            time.sleep(poll)


# -- down and the verbs on existing containers ------------------------------------------------


def _levels(project: Project | None, services: Collection[str]) -> list[list[str]]:
    if project is None:
        return []
    return graph.levels(project, [s for s in services if s in project.services])


def down(
    backend: EngineBackend,
    name: str,
    project: Project | None,
    report: Report,
    *,
    remove_orphans: bool = False,
    volumes: bool = False,
    timeout: int | None = None,
    services: Collection[str] = (),
    rmi: str | None = None,
    workers: int = executor.WORKERS,
) -> None:
    """Remove the project's containers (orphans too with ``remove_orphans``), its networks and,
    with ``volumes``, its volumes (the named ones it made and its containers' anonymous ones).
    ``project``: the model when there is one (``down -p NAME`` works without files);
    ``services``: only these services' containers (the networks and volumes stay); ``rmi``:
    ``local`` or ``all``, the images to remove too."""
    with backend.project_lock(name):
        state = observe(backend, name)
        known = set(project.services) if project is not None else set(state.containers)
        if services:
            unknown = [s for s in services if s not in known]
            if unknown:
                raise ComposeError(f"no such service: {unknown[0]}")
            # (and what depends on them, which cannot run without them)
            known = graph.dependents(project, services) if project is not None else set(services)
        orphans = state.orphans(set(project.services) if project is not None else known)
        if orphans and not remove_orphans and not services:
            report(executor.orphan_warning(name, orphans))
        doomed = {
            s: list(cs)
            for s, cs in state.containers.items()
            if s in known or (remove_orphans and not services and s not in known)
        }
        if state.oneoffs and remove_orphans and not services:  # (run's: only then, as Docker Compose)
            doomed["\0run"] = list(state.oneoffs)  # (one-off containers: of no level, first)
        executor.stop_containers(
            backend,
            doomed,
            _levels(project, doomed),
            report,
            timeout=timeout,
            remove=True,
            volumes=volumes,
            workers=workers,
        )
        if services:
            return
        resources.remove_networks(backend, name, report)
        if rmi is not None and project is not None:
            _remove_images(backend, project, RemoveImages.parse(rmi), report, remove_orphans=remove_orphans)
        if volumes:
            resources.remove_volumes(backend, name, report)


def _remove_images(
    backend: EngineBackend, project: Project, mode: RemoveImages, report: Report, *, remove_orphans: bool
) -> None:
    for image in images_to_remove(backend, project, mode, remove_orphans=remove_orphans):
        report(Event(Kind.IMAGE, image, "Removing", Phase.WORKING))
        try:
            backend.remove_image(image)
        except NotFound:
            pass
        except CoveError as exc:  # (another container uses it)
            report(Event(Kind.IMAGE, image, "Error", Phase.ERROR))
            report(
                Event(Kind.SERVICE, project.name, "Warning", Phase.WARNING, f"image {image}: {exc.message}")
            )
            continue
        report(Event(Kind.IMAGE, image, "Removed"))


def selected(state: ProjectState, project: Project, services: Collection[str]) -> dict[str, list[Observed]]:
    """The containers of the named services (every service of the model when none is named)."""
    unknown = [s for s in services if s not in project.services]
    if unknown:
        raise ComposeError(f"no such service: {unknown[0]}")
    wanted = services or list(project.services)
    return {s: list(state.of(s)) for s in wanted if state.of(s)}


def start(
    backend: EngineBackend, project: Project, services: Collection[str], report: Report, *, workers: int = 4
) -> dict[str, list[str]]:
    """Start the services' existing containers, in dependency order with their conditions."""
    state = observe(backend, project.name)
    found = selected(state, project, services)
    for s in services:
        if s not in found:
            raise ComposeError(f'service "{s}" has no container to start')
    actions = {
        s: tuple(Action(Verb.NOOP if c.running else Verb.START, s, c.number, c) for c in cs)
        for s, cs in found.items()
    }
    levels = tuple(tuple(level) for level in graph.levels(project, found))
    plan = Plan(levels, MappingProxyType(actions))
    make = _maker(backend, project, {}, report)
    return executor.run_plan(backend, project, plan, make, report, Settings(workers=workers))


def stop(
    backend: EngineBackend,
    project: Project,
    services: Collection[str],
    report: Report,
    *,
    timeout: int | None = None,
    workers: int = executor.WORKERS,
) -> None:
    state = observe(backend, project.name)
    found = {s: [c for c in cs if c.running] for s, cs in selected(state, project, services).items()}
    executor.stop_containers(
        backend, found, _levels(project, found), report, timeout=timeout, workers=workers
    )


def each(
    backend: EngineBackend,
    project: Project,
    services: Collection[str],
    report: Report,
    verb: Callable[[Observed], object],
    words: tuple[str, str],
    *,
    which: Callable[[Observed], bool] = lambda c: True,
    reverse: bool = False,
    workers: int = executor.WORKERS,
) -> list[Observed]:
    """``verb`` on the chosen containers of the services, level by level (dependencies first,
    or last with ``reverse``), reporting ``words`` (Restarting, Restarted); the containers."""
    state = observe(backend, project.name)
    found = {s: [c for c in cs if which(c)] for s, cs in selected(state, project, services).items()}
    levels = _levels(project, found)
    done: list[Observed] = []

    def one(c: Observed) -> None:
        report(Event(Kind.CONTAINER, c.name, words[0], Phase.WORKING))
        verb(c)
        report(Event(Kind.CONTAINER, c.name, words[1]))

    for level in reversed(levels) if reverse else levels:
        batch = [c for s in level for c in found.get(s, ())]
        executor.for_each(batch, one, workers=workers)
        done += batch
    return done

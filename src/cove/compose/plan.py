"""What ``up`` must do to bring the engine to the model: the plan, made before anything runs.

Pure (compose v1's lesson: plan, then execute): the model, the observed state
(``cove.compose.state``) and the options in, one list of actions per service out. The
executor runs it; the tests read it as tables.

Per service, Docker Compose's convergence: keep the lowest-numbered containers up to the
wanted replica count and remove the rest (highest numbers first); a kept container whose
config hash or image differs from the model's is recreated (never with ``--no-recreate``,
always with ``--force-recreate``), a stopped one started, a running one left alone; the
missing ones are created with the numbers after the highest kept. A service whose container
shares another's namespaces (``network_mode: service:``, ``volumes_from``) is recreated with
it; one that depends on it with ``restart: true`` is restarted.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cove.compose import graph
from cove.compose.errors import ComposeError
from cove.compose.model import Project
from cove.compose.state import Observed, ProjectState


class Verb(enum.Enum):
    CREATE = "create"
    RECREATE = "recreate"
    START = "start"
    RESTART = "restart"
    NOOP = "noop"
    REMOVE = "remove"


class Recreate(enum.Enum):
    DIVERGED = "diverged"  # only when its config changed (the default)
    FORCE = "force"
    NEVER = "never"


@dataclass(frozen=True)
class Action:
    verb: Verb
    service: str
    number: int
    container: Observed | None = None  # the existing one (all verbs but CREATE)


@dataclass(frozen=True)
class Options:
    services: tuple[str, ...] = ()  # named on the command line; () is every service
    no_deps: bool = False
    recreate: Recreate = Recreate.DIVERGED  # for the named services
    recreate_dependencies: Recreate = Recreate.DIVERGED  # for the ones they pull in
    scale: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    remove_orphans: bool = False
    start: bool = False  # START stopped containers (up and start do, create does not)


def _empty() -> Mapping[str, tuple[Action, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Plan:
    levels: tuple[tuple[str, ...], ...] = ()  # the planned services in start order, by levels
    actions: Mapping[str, tuple[Action, ...]] = field(default_factory=_empty)
    orphans: tuple[Observed, ...] = ()  # found; removed when remove_orphans
    remove_orphans: bool = False

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(s for level in self.levels for s in level)

    def verbs(self, service: str) -> list[tuple[Verb, int]]:
        """(For tests and logs.) The service's actions as (verb, container number)."""
        return [(a.verb, a.number) for a in self.actions.get(service, ())]


def targets(project: Project, options: Options) -> set[str]:
    """The services ``up`` works on: the named ones and, unless ``no_deps``, what they need."""
    unknown = [s for s in options.services if s not in project.services]
    if unknown:
        raise ComposeError(f"no such service: {unknown[0]}")
    if not options.services:
        return set(project.services)
    if options.no_deps:
        return set(options.services)
    return graph.with_dependencies(project, options.services)


def make_plan(
    project: Project,
    state: ProjectState,
    options: Options,
    *,
    hashes: Mapping[str, str],
    images: Mapping[str, str] | None = None,
    known: Collection[str] | None = None,
) -> Plan:
    """``hashes``: each service's config hash (convert.config_hash); ``images``: the image ID
    each service runs when it is known (a container on another is recreated); ``known``:
    every service the files define, enabled or not (the rest are orphans)."""
    for name, count in options.scale.items():
        if name not in project.services:
            raise ComposeError(f"no such service: {name}")
        if count < 0:
            raise ComposeError(f"invalid scale for {name}: {count}")
    wanted = targets(project, options)
    order = graph.levels(project, wanted)
    named = set(options.services or project.services)
    recreated: set[str] = set()
    restarted: set[str] = set()
    actions: dict[str, tuple[Action, ...]] = {}
    for name in (s for level in order for s in level):
        service = project.services[name]
        count = options.scale.get(name, service.replicas)
        if service.container_name and count > 1:
            raise ComposeError(
                f"services.{name}: can't set container_name and {name} as container name must be unique"
            )
        policy = options.recreate if name in named else options.recreate_dependencies
        existing = state.of(name)
        kept, surplus = existing[:count], existing[count:]
        edges = graph.edges(service)
        follows = any(e.shares and e.dependency in recreated for e in edges)
        restarts = any(e.restart and (e.dependency in recreated or e.dependency in restarted) for e in edges)
        out: list[Action] = []
        for c in kept:
            changed = c.config_hash != hashes.get(name) or (
                images is not None and name in images and c.image_id != images[name]
            )
            if policy is Recreate.FORCE or (policy is Recreate.DIVERGED and changed) or follows:
                out.append(Action(Verb.RECREATE, name, c.number, c))
            elif not c.running and options.start:
                out.append(Action(Verb.START, name, c.number, c))
            elif c.running and restarts:
                out.append(Action(Verb.RESTART, name, c.number, c))
            else:
                out.append(Action(Verb.NOOP, name, c.number, c))
        following = max((c.number for c in kept), default=0) + 1
        out += [Action(Verb.CREATE, name, following + i) for i in range(count - len(kept))]
        out += [Action(Verb.REMOVE, name, c.number, c) for c in sorted(surplus, key=lambda c: -c.number)]
        if any(a.verb is Verb.RECREATE for a in out):
            recreated.add(name)
        elif any(a.verb is Verb.RESTART for a in out):
            restarted.add(name)
        actions[name] = tuple(out)
    orphans = state.orphans(set(known) if known is not None else set(project.services))
    return Plan(
        tuple(tuple(level) for level in order), MappingProxyType(actions), orphans, options.remove_orphans
    )

"""The services' dependency graph: who starts before whom, and who stops first.

A service needs another when it names it in ``depends_on``, ``network_mode: service:X``,
``volumes_from: X`` or ``links: X`` (Docker Compose starts each of these first). The start
order is by levels (each level needs only earlier ones, so a level can start in parallel);
stop and down run the levels backwards.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from cove.compose.errors import ComposeError
from cove.compose.model import Condition, Dependency, Project, Service


@dataclass(frozen=True)
class Edge:
    """``service`` needs ``dependency`` in ``condition`` before it starts."""

    dependency: str
    condition: Condition = Condition.STARTED
    required: bool = True
    restart: bool = False
    shares: bool = False  # network_mode service: / volumes_from: its container is part of this one's


def edges(service: Service) -> tuple[Edge, ...]:
    """Every service ``service`` needs, once each (depends_on's conditions win over the
    implicit dependencies, which only need the other started)."""
    out: dict[str, Edge] = {}
    shared: set[str] = set()
    mode = service.network_mode or ""
    if mode.startswith("service:"):
        shared.add(mode.removeprefix("service:"))
    for ref in service.volumes_from:
        if not ref.startswith("container:"):
            shared.add(ref.partition(":")[0])
    dep: Dependency
    for dep in service.depends_on:
        out[dep.service] = Edge(dep.service, dep.condition, dep.required, dep.restart, dep.service in shared)
    implicit = [*sorted(shared), *(link.partition(":")[0] for link in service.links)]
    for name in implicit:
        if name not in out:
            out[name] = Edge(name, shares=name in shared)
    return tuple(out.values())


def dependency_map(project: Project) -> dict[str, tuple[Edge, ...]]:
    return {name: edges(service) for name, service in project.services.items()}


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle, as the path that closes it (``a -> b -> a``), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in deps.get(name, ()):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(deps):
        if name not in state and (found := visit(name)):
            return found
    return None


def _names(project: Project) -> dict[str, list[str]]:
    return {name: [e.dependency for e in edges(s)] for name, s in project.services.items()}


def levels(project: Project, services: Collection[str] | None = None) -> list[list[str]]:
    """``services`` (default: all) in start order, by levels: every service of a level needs only
    services of earlier levels (or ones outside ``services``). A cycle is a ComposeError."""
    deps = _names(project)
    cycle = find_cycle(deps)
    if cycle:
        raise ComposeError(f"dependency cycle detected: {' -> '.join(cycle)}")
    wanted = set(project.services if services is None else services) & set(deps)
    placed: set[str] = set()
    out: list[list[str]] = []
    while len(placed) < len(wanted):
        level = sorted(n for n in wanted - placed if all(d in placed or d not in wanted for d in deps[n]))
        out.append(level)
        placed.update(level)
    return out


def start_order(project: Project, services: Collection[str] | None = None) -> list[str]:
    return [name for level in levels(project, services) for name in level]


def stop_order(project: Project, services: Collection[str] | None = None) -> list[str]:
    """Dependents before what they depend on."""
    return [name for level in reversed(levels(project, services)) for name in level]


def with_dependencies(project: Project, names: Iterable[str]) -> set[str]:
    """The named services and every service they need, transitively (the ones in the model)."""
    deps = _names(project)
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in deps:
            continue
        out.add(name)
        todo.extend(deps[name])
    return out


def dependents(project: Project, names: Iterable[str]) -> set[str]:
    """The named services and every service that needs them, transitively."""
    deps = _names(project)
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        todo.extend(n for n, d in deps.items() if name in d)
    return out

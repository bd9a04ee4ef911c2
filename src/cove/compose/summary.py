"""What ``ps``, ``ls``, ``images`` and ``port`` report about a project's containers, from their
labels and the engine's view of them (pure: the caller hands in what the backend returned).

Docker Compose's rules: ``ps`` shows the running service containers (``-a`` or ``--status``:
every one, ``run``'s one-offs too) sorted by name; ``ls`` groups every container carrying a
project label by project, with its states counted (``running(2), exited(1)``) and the union of
their config files; a service's container for ``exec``, ``port``, ``cp``... is the one with
the number ``--index`` asks, else the lowest numbered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cove.compose import names
from cove.engine.container_types import Status
from cove.engine.requests import parse_expose
from cove.errors import CoveError, NotFound

if TYPE_CHECKING:
    from cove.engine.container_types import ContainerDetails
    from cove.engine.containers.model import Container
    from cove.engine.requests import Binding


@dataclass(frozen=True, order=True)
class Publisher:
    """One port of a running container, as Docker Compose's ``Publishers`` (published_port 0:
    exposed only)."""

    target_port: int
    url: str
    published_port: int
    protocol: str


@dataclass(frozen=True)
class ContainerSummary:
    id: str
    name: str
    image: str
    project: str
    service: str
    command: str
    state: str
    created: float
    labels: dict[str, str]
    health: str
    exit_code: int
    publishers: tuple[Publisher, ...]
    mounts: tuple[str, ...] = ()
    local_volumes: int = 0
    networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    """One project on the engine, as ``ls`` lists it."""

    name: str
    status: str
    config_files: str


# -- choosing containers ---------------------------------------------------------------------------


def label(container: Container, key: str) -> str:
    return container.record.config.labels.get(key, "")


def is_oneoff(container: Container) -> bool:
    return label(container, names.ONEOFF) == "True"


def number_of(container: Container) -> int:
    try:
        return int(label(container, names.CONTAINER_NUMBER))
    except ValueError:
        return 0


def ps_selection(
    containers: Iterable[Container],
    *,
    services: Sequence[str] = (),
    all: bool = False,
    statuses: Sequence[str] = (),
) -> list[Container]:
    """The containers ``ps`` lists, in its order."""
    everything = all or bool(statuses)
    chosen = []
    for c in containers:
        if services and label(c, names.SERVICE) not in services:
            continue
        if not everything and (is_oneoff(c) or not c.status.running):
            continue
        if statuses and c.status.status.value not in statuses:
            continue
        chosen.append(c)
    return sorted(chosen, key=lambda c: c.record.name)


def service_container(
    containers: Iterable[Container], service: str, index: int | None = None, *, running: bool = True
) -> Container:
    """The container of ``service`` that ``exec``, ``port``, ``cp``... act on: number ``index``,
    else the lowest numbered (one-offs last); ComposeError as Docker Compose words it."""
    found = [
        c
        for c in containers
        if label(c, names.SERVICE) == service
        and (not running or c.status.running)
        and (not index or (number_of(c) == index and not is_oneoff(c)))
    ]
    if not found:
        if index:
            raise NotFound(f'service "{service}" is not running container #{index}')
        raise NotFound(f'service "{service}" is not running')
    return min(found, key=lambda c: (is_oneoff(c), number_of(c)))


# -- ps ---------------------------------------------------------------------------------------------


def publishers(
    bindings: Iterable[Binding], exposed: Iterable[tuple[int, str]], *, running: bool
) -> tuple[Publisher, ...]:
    """A running container's ports: each published one, then each exposed one left unpublished
    (a stopped container has none), sorted by the container's port."""
    if not running:
        return ()
    out = [Publisher(b.container_port, b.host_ip or "0.0.0.0", b.host_port, b.protocol) for b in bindings]
    bound = {(p.target_port, p.protocol) for p in out}
    for port, protocol in sorted(set(exposed)):
        if (port, protocol) not in bound:
            out.append(Publisher(port, "", 0, protocol))
            bound.add((port, protocol))
    return tuple(sorted(out))


def exposed_ports(details: ContainerDetails) -> list[tuple[int, str]]:
    """The ports the container's image and config expose (``80/tcp``, ``8000-8010/udp``)."""
    ports: list[tuple[int, str]] = []
    image_ports = (details.image_config or {}).get("ExposedPorts") or {}
    for text in [*image_ports, *details.record.config.expose]:
        try:
            ports.extend(parse_expose(str(text)))
        except CoveError:
            continue
    return ports


def summarize(container: Container, details: ContainerDetails | None) -> ContainerSummary:
    """``ps``'s view of one container; ``details``: the engine's inspect (None when the
    container went meanwhile)."""
    state = container.status
    labels = dict(container.record.config.labels)
    running = state.status == Status.RUNNING
    health = state.health.status.value if running and state.health is not None else ""
    exit_code = 0
    if state.status in (Status.EXITED, Status.DEAD):
        exit_code = state.reported_exit_code
    if details is None:
        return ContainerSummary(
            container.record.id, container.record.name, container.record.image_ref,
            labels.get(names.PROJECT, ""), labels.get(names.SERVICE, ""), "",
            state.status.value, container.record.created, labels, health, exit_code, (),
        )  # fmt: skip
    mounts = tuple(m.name or m.source for m in details.mounts)
    return ContainerSummary(
        id=container.record.id,
        name=container.record.name,
        image=container.record.image_ref,
        project=labels.get(names.PROJECT, ""),
        service=labels.get(names.SERVICE, ""),
        command=" ".join(details.command),
        state=state.status.value,
        created=container.record.created,
        labels=labels,
        health=health,
        exit_code=exit_code,
        publishers=publishers(details.ports, exposed_ports(details), running=state.running),
        mounts=mounts,
        local_volumes=sum(1 for m in details.mounts if m.type == "volume"),
        networks=tuple(n.name for n in details.networks),
    )


def displayable_ports(ports: Iterable[Publisher]) -> str:
    """Docker's PORTS column: ``0.0.0.0:8080->80/tcp, 9000-9001/tcp``; consecutive ports that
    are published on the same numbers (or not at all) are shown as one range."""
    groups: dict[tuple[str, str], list[list[int]]] = {}
    order: list[tuple[str, str]] = []
    mappings: list[str] = []
    for p in sorted(ports, key=lambda p: (p.target_port, p.url, p.published_port, p.protocol)):
        if p.url and p.published_port != p.target_port:
            mappings.append(f"{p.url}:{p.published_port}->{p.target_port}/{p.protocol}")
            continue
        key = (p.url, p.protocol)
        if key not in groups:
            groups[key] = []
            order.append(key)
        ranges = groups[key]
        if ranges and ranges[-1][1] + 1 == p.target_port:
            ranges[-1][1] = p.target_port
        else:
            ranges.append([p.target_port, p.target_port])
    out: list[str] = []
    for url, protocol in order:
        for first, last in groups[(url, protocol)]:
            span = str(first) if first == last else f"{first}-{last}"
            out.append(f"{url}:{span}->{span}/{protocol}" if url else f"{span}/{protocol}")
    return ", ".join(out + mappings)


# -- ls ---------------------------------------------------------------------------------------------


def combined_status(states: Iterable[str]) -> str:
    """``exited(1), running(2)``: each state's count, states in alphabetical order."""
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{state}({counts[state]})" for state in sorted(counts))


def stacks(containers: Iterable[Container]) -> list[Stack]:
    """Every project the containers carry the label of, by name."""
    by_project: dict[str, list[Container]] = {}
    for c in containers:
        project = label(c, names.PROJECT)
        if project:
            by_project.setdefault(project, []).append(c)
    out = []
    for project in sorted(by_project):
        members = by_project[project]
        files: list[str] = []
        for c in members:
            for f in label(c, names.CONFIG_FILES).split(","):
                if f and f not in files:
                    files.append(f)
        out.append(Stack(project, combined_status(c.status.status.value for c in members), ",".join(files)))
    return out


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """``ls --filter name=X``: the name itself, or a regular expression found in it."""
    for pattern in patterns:
        if pattern == name:
            return True
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False

"""``compose events``: the project's container events, observed by polling the engine.

cove's engine keeps no event stream, so the events are inferred from what changes between two
looks at the project's containers (every ``POLL_INTERVAL`` seconds): a new container is
``create`` (and ``start`` if it already runs), a stop is ``die`` with its ``exitCode``, a
restart between two looks is ``die`` then ``start``, a health change is
``health_status: healthy``, a container gone is ``destroy``. What happens and undoes itself
between two looks (a container made and removed within one interval) is not seen; the times
are the engine's recorded ones where it keeps them (created, started, finished) and the
observation's otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cove.compose import names
from cove.engine.container_types import Status
from cove.oci.timestamps import timestamp

if TYPE_CHECKING:
    from cove.engine.containers.model import Container

POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class Event:
    time: float
    service: str
    container: str  # its ID
    action: str  # create, start, die, pause, unpause, destroy, "health_status: healthy"...
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """What one look saw of a container."""

    id: str
    name: str
    image: str
    service: str
    labels: Mapping[str, str]
    created: float
    status: Status
    started_at: float
    finished_at: float
    exit_code: int
    health: str


def seen(container: Container) -> Seen:
    record, state = container.record, container.status
    labels = record.config.labels
    return Seen(
        id=record.id,
        name=record.name,
        image=record.image_ref,
        service=labels.get(names.SERVICE, ""),
        labels=dict(labels),
        created=record.created,
        status=state.status,
        started_at=timestamp(state.started_at),
        finished_at=timestamp(state.finished_at),
        exit_code=state.reported_exit_code,
        health=state.health.status.value if state.health is not None else "",
    )


def _attributes(s: Seen, **more: str) -> dict[str, str]:
    """Docker's event attributes: the image, the name and the container's labels, less
    compose's own (Docker Compose leaves those out)."""
    out = {k: v for k, v in s.labels.items() if not k.startswith(names.PREFIX)}
    out.update(image=s.image, name=s.name, **more)
    return out


def _event(s: Seen, when: float, action: str, **more: str) -> Event:
    return Event(when, s.service, s.id, action, _attributes(s, **more))


_LIVE = (Status.RUNNING, Status.PAUSED, Status.RESTARTING)


def _ended(s: Seen, now: float) -> float:
    """When a stopped container's last run ended: its record's time, never before its start
    (the two are recorded apart), else the observation's."""
    return max(s.finished_at, s.started_at) if s.finished_at else now


def changes(before: Mapping[str, Seen], after: Mapping[str, Seen], now: float) -> list[Event]:
    """The events that take the project from one look to the next, in time order."""
    out: list[Event] = []
    for cid, new in after.items():
        old = before.get(cid)
        if old is None:
            out.append(_event(new, new.created or now, "create"))
            if new.started_at:
                out.append(_event(new, new.started_at, "start"))
            if new.status not in _LIVE and new.started_at:
                out.append(_event(new, _ended(new, now), "die", exitCode=str(new.exit_code)))
            if new.health and new.status in _LIVE:
                out.append(_event(new, now, f"health_status: {new.health}"))
            continue
        restarted = new.started_at and new.started_at != old.started_at
        if old.status in _LIVE and (new.status not in _LIVE or restarted):
            moment = new.finished_at if new.finished_at > old.started_at else now
            out.append(_event(new, min(moment, new.started_at or moment), "die", exitCode=str(new.exit_code)))
        if restarted:
            out.append(_event(new, new.started_at, "start"))
            if new.status not in _LIVE:
                out.append(_event(new, _ended(new, now), "die", exitCode=str(new.exit_code)))
        if old.status != Status.PAUSED and new.status == Status.PAUSED:
            out.append(_event(new, now, "pause"))
        elif old.status == Status.PAUSED and new.status == Status.RUNNING and not restarted:
            out.append(_event(new, now, "unpause"))
        if new.health != old.health and new.health and new.status in _LIVE:
            out.append(_event(new, now, f"health_status: {new.health}"))
    for cid, old in before.items():
        if cid not in after:
            if old.status in _LIVE:
                out.append(_event(old, now, "die", exitCode=str(old.exit_code)))
            out.append(_event(old, now, "destroy"))
    return sorted(out, key=lambda e: e.time)


def history(containers: Mapping[str, Seen], since: float, now: float) -> list[Event]:
    """``--since``: what the containers' recorded times tell of what happened after ``since``
    (their creation, last start and last stop)."""
    return [e for e in changes({}, containers, now) if e.time >= since]


def watch(
    look: Callable[[], Iterable[Container]],
    *,
    services: Iterable[str] = (),
    since: float | None = None,
    until: float | None = None,
    poll: float = POLL_INTERVAL,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """The events of the containers ``look`` returns (the project's, not its one-offs), of
    ``services`` when given, until ``until`` (forever without it)."""
    wanted = set(services)

    def current() -> dict[str, Seen]:
        return {
            c.record.id: seen(c)
            for c in look()
            if c.record.config.labels.get(names.ONEOFF) != "True"
            and (not wanted or c.record.config.labels.get(names.SERVICE) in wanted)
        }

    before = current()
    if since is not None:
        yield from (e for e in history(before, since, clock()) if until is None or e.time <= until)
    while until is None or clock() < until:
        sleep(poll)
        after = current()
        for event in changes(before, after, clock()):
            if until is not None and event.time > until:
                return
            yield event
        before = after

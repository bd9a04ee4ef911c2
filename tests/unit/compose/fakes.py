"""Fake containers and a fake engine backend for the unit tests of compose's ops commands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from cove.compose import names
from cove.containers.store import ContainerRecord
from cove.engine.container_types import ContainerState, Health, HealthStatus, Status
from cove.engine.containers.model import Container
from cove.engine.requests import ContainerConfig
from cove.errors import NotFound


def container(
    project: str,
    service: str,
    number: int = 1,
    *,
    status: Status = Status.RUNNING,
    exit_code: int = 0,
    health: HealthStatus | None = None,
    oneoff: bool = False,
    created: float = 1000.0,
    started_at: str = "2026-01-01T00:00:00Z",
    name: str | None = None,
    config_files: str = "/p/compose.yaml",
    image: str = "busybox",
    cid: str | None = None,
) -> Container:
    labels = {
        names.PROJECT: project,
        names.SERVICE: service,
        names.CONTAINER_NUMBER: str(number),
        names.ONEOFF: "True" if oneoff else "False",
        names.CONFIG_FILES: config_files,
    }
    name = name or names.container_name(project, service, number, oneoff=oneoff, slug="abc")
    cid = cid or (f"{project}{service}{number}{oneoff}".encode().hex() * 8)[:64]
    record = ContainerRecord(
        id=cid,
        name=name,
        image_id="sha256:" + "ab" * 32,
        image_ref=image,
        snapshot_key=cid,
        created=created,
        config=ContainerConfig(image=image, cmd=["sleep", "10"], labels=labels),
        runtime="crun",
    )
    state = ContainerState(
        status=status,
        exit_code=exit_code,
        started_at=started_at,
        finished_at="2026-01-01T00:00:05Z" if status == Status.EXITED else "",
        health=Health(health) if health is not None else None,
    )
    return Container(record, state)


def with_status(c: Container, status: Status, exit_code: int = 0) -> Container:
    return Container(c.record, replace(c.status, status=status, exit_code=exit_code))


class FakeBackend:
    """list_containers, get_container and logs over a dict of containers; ``logs`` of a
    followed container blocks on its ``lines`` until ``finish`` says it stopped."""

    def __init__(self, *containers: Container) -> None:
        self.containers = {c.record.id: c for c in containers}
        self.lines: dict[str, list[tuple[str, float, str]]] = {c.record.id: [] for c in containers}
        self.calls: list[tuple[str, dict[str, object]]] = []
        self.cond = threading.Condition()

    def add(self, c: Container) -> None:
        with self.cond:
            self.containers[c.record.id] = c
            self.lines.setdefault(c.record.id, [])
            self.cond.notify_all()

    def write(self, cid: str, stream: str, moment: float, text: str) -> None:
        with self.cond:
            self.lines[cid].append((stream, moment, text))
            self.cond.notify_all()

    def finish(self, cid: str, exit_code: int = 0) -> None:
        with self.cond:
            self.containers[cid] = with_status(self.containers[cid], Status.EXITED, exit_code)
            self.cond.notify_all()

    def list_containers(self, filters: dict[str, list[str]], *, all: bool = True) -> list[Container]:
        wanted = dict(f.split("=", 1) for f in filters.get("label", []))
        with self.cond:
            found = list(self.containers.values())
        return [c for c in found if all_match(c, wanted) and (all or c.status.running)]

    def get_container(self, ref: str) -> Container:
        with self.cond:
            for c in self.containers.values():
                if ref in (c.record.id, c.record.name):
                    return c
        raise NotFound(f"No such container: {ref}")

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[tuple[str, float, str]]:
        self.calls.append(("logs", {"ref": ref, "follow": follow, "tail": tail, "since": since}))
        sent = 0
        if ref not in self.containers:
            raise NotFound(f"No such container: {ref}")
        while True:
            with self.cond:
                pending = self.lines[ref][sent:]
                if not pending and (not follow or not self.containers[ref].status.running):
                    return
                if not pending:
                    self.cond.wait(0.05)
                    continue
            sent += len(pending)
            for entry in pending:
                if since is not None and entry[1] < since:
                    continue
                yield entry


def all_match(c: Container, wanted: dict[str, str]) -> bool:
    labels = c.record.config.labels
    return all(labels.get(k) == v for k, v in wanted.items())

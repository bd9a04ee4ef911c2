"""``cove logs``: a container's log, read and followed."""

from __future__ import annotations

from collections.abc import Iterator

from cove.engine.containers import ContainerService
from cove.logs import jsonfile


class Logs:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[jsonfile.LogEntry]:
        record = self.c.records.resolve(ref)
        path = self.c.log_path(record.id)
        end = jsonfile.end_of(path)
        yield from jsonfile.read(path, tail=tail, since=since, until=until, end=end)
        if not follow:
            return

        def running() -> bool:
            return self.c.state(record.id).supervised

        for entry in jsonfile.follow(path, running, start=end):
            if until is not None and jsonfile.parse_time(entry.time) > until:
                return
            yield entry

"""``cove top``: the host's ``ps`` output, cut to the container's processes."""

from __future__ import annotations

from cove.engine.containers import ContainerService
from cove.errors import Conflict, InvalidArgument


class Top:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        container = self.c.get(ref)
        if not container.status.running:
            raise Conflict(f"container {container.record.id[:12]} is not running")
        pids = set(self.c.runtime_of(container.record).pids(container.record.id))
        args = ps_args or ["-ef"]
        out = self.store.runner.run(["ps", *args]).stdout.decode(errors="replace").splitlines()
        if not out:
            return [], []
        titles = out[0].split()
        if "PID" not in titles:
            raise InvalidArgument(f"couldn't find PID field in ps output (ps {' '.join(args)})")
        column = titles.index("PID")
        rows = []
        for line in out[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
                rows.append(fields)
        return titles, rows

"""``cove ps --filter``: which containers match Docker's container filters."""

from __future__ import annotations

import contextlib
import re

from cove.containers.state import Status
from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.model import Container
from cove.engine.filters import labels_match
from cove.errors import CoveError, InvalidArgument

EXITED_FILTER = Status.EXITED.value  # Docker's exited=<code> filter is named after the status
CONTAINER_FILTERS = frozenset(
    {"status", "name", "label", "ancestor", "health", EXITED_FILTER, "id", "before", "since"}
)
STATUSES = Status.names()


def _matches(container: Container, key: str, values: list[str], ancestors: set[str]) -> bool:
    record, status = container.record, container.status
    if key == "status":
        for value in values:
            if value not in STATUSES:
                raise InvalidArgument(
                    f"invalid filter 'status={value}'", hint=f"statuses: {', '.join(STATUSES)}"
                )
        return status.status.value in values
    if key == "name":
        return any(re.search(v.lstrip("/"), record.name) for v in values)
    if key == "id":
        return any(record.id.startswith(v) for v in values)
    if key == "label":
        return labels_match(record.config.labels, values)
    if key == "ancestor":
        return record.image_id in ancestors
    if key == "health":
        health = status.health.status.value if status.health else "none"
        return health in values
    if key == EXITED_FILTER:
        return status.status == Status.EXITED and str(status.reported_exit_code) in values
    return True


def filter_containers(
    service: ContainerLayout, containers: list[Container], filters: dict[str, list[str]]
) -> list[Container]:
    for key in filters:
        if key not in CONTAINER_FILTERS:
            raise InvalidArgument(
                f"invalid filter {key!r}", hint=f"filters: {', '.join(sorted(CONTAINER_FILTERS))}"
            )
    ancestors: set[str] = set()
    for value in filters.get("ancestor", []):
        with contextlib.suppress(CoveError):
            ancestors.add(service.store.images.resolve(value).id)
    out = []
    for c in containers:
        if all(
            _matches(c, key, values, ancestors)
            for key, values in filters.items()
            if key not in ("before", "since")
        ):
            out.append(c)
    for key in ("before", "since"):
        for value in filters.get(key, []):
            pivot = service.records.resolve(value).created
            out = [
                c for c in out if (c.record.created < pivot if key == "before" else c.record.created > pivot)
            ]
    return out

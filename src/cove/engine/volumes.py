"""VolumeService: create, list (filtered), inspect, remove and prune volumes, and their usage."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from cove.engine.filters import (
    VOLUME_PRUNE_FILTERS,
    check_filters,
    filter_volumes,
    label_filters_match,
    parse_bool_filter,
)
from cove.engine.types import PruneReport, VolumeUsage
from cove.errors import Conflict
from cove.snapshots.usage import disk_usage
from cove.volumes.store import LOCAL, Volume, VolumeStore

__all__ = ["Volume", "VolumeService"]


class VolumeService:
    """The volume verbs every front-end shares, over the volume store (which the container
    service also uses directly, to make and attach a container's volumes)."""

    def __init__(self, store: VolumeStore) -> None:
        self.store = store

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = LOCAL,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """A named volume (an existing one of that name is returned, as Docker does), or an
        anonymous one when ``name`` is None."""
        return self.store.create(name, driver=driver, labels=dict(labels or {}), options=dict(options or {}))

    def get(self, name: str) -> Volume:
        return self.store.get(name)

    def users(self, name: str) -> list[str]:
        """IDs of the containers (in any state) that use the volume."""
        return self.store.users(name)

    def list_volumes(self, filters: Mapping[str, list[str]] | None = None) -> list[Volume]:
        return filter_volumes(self.store.all(), filters or {}, lambda name: bool(self.store.users(name)))

    def remove(self, name: str, *, force: bool = False) -> None:
        self.store.remove(name, force=force)

    def size(self, volume: Volume) -> int:
        """Bytes on disk under the volume's directory."""
        return disk_usage(volume.mountpoint.parent)[0]

    def usage(self) -> list[VolumeUsage]:
        return [VolumeUsage(v.name, len(self.store.users(v.name)), self.size(v)) for v in self.store.all()]

    def prune(self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None) -> PruneReport:
        """Volumes no container uses: anonymous ones, or all of them with ``all`` (Docker's
        ``volume prune -a``, or its ``all=true`` filter), with the ``label`` and ``label!``
        filters. One that a container took meanwhile is left, not an error."""
        filters = filters or {}
        check_filters(filters, VOLUME_PRUNE_FILTERS)
        if "all" in filters:
            all = all or parse_bool_filter("all", filters["all"])
        removed: list[str] = []
        freed = 0
        for volume in self.store.all():
            if (not all and not volume.anonymous) or not label_filters_match(volume.labels, filters):
                continue
            if self.store.users(volume.name):
                continue
            size = self.size(volume)
            with contextlib.suppress(Conflict):
                self.store.remove(volume.name)
                removed.append(volume.name)
                freed += size
        return PruneReport(volumes=tuple(removed), space_reclaimed=freed)

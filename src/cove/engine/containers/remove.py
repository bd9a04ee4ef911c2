"""Removing containers: one (``rm``, its runtime state, network, snapshot and directory with
it) or every stopped one (``container prune``)."""

from __future__ import annotations

import contextlib
import os

from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.lifecycle import Lifecycle
from cove.engine.types import PruneReport
from cove.errors import Conflict, CoveError
from cove.host.trees import remove_quietly


class Remover:
    def __init__(self, layout: ContainerLayout, lifecycle: Lifecycle) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes
        self.lifecycle = lifecycle

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> str:
        record = self.records.resolve(ref)
        cid = record.id
        status = self.layout.state(cid)
        if status.running:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{record.name}": container is running: '
                    "stop the container before removing or force remove",
                    hint=f"cove rm -f {record.name}",
                )
            self.lifecycle.stop(cid, timeout=0, signal_name="SIGKILL")
        with self.layout.ops_lock(cid).exclusive():
            self.lifecycle.wait_monitor(cid)
            self.lifecycle.reset(record)
            anonymous = [
                name
                for name, _ in self.volumes.of_container(cid)
                if (v := self.volumes.find(name)) and v.anonymous
            ]
            if self.layout.networks.records.endpoints(container_id=cid):
                self.layout.networks.unwire(cid, forget=True)
            self.records.delete(cid)
            with contextlib.suppress(CoveError):
                self.store.snapshotter.remove(record.snapshot_key)
            self.layout.socket(cid).unlink(missing_ok=True)
        trash = self.layout.containers_dir / f".trash-{cid}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.layout.dir(cid), trash)
        remove_quietly(trash)  # what cannot go now, the store's cleanup retries and reports
        if volumes:
            for name in anonymous:
                with contextlib.suppress(CoveError):
                    self.volumes.remove(name)
        return cid

    def prune(self) -> PruneReport:
        """Every container that is not running (Docker's ``container prune``)."""
        from cove.snapshots.usage import disk_usage

        removed = []
        freed = 0
        for container in self.layout.all():
            if container.status.running:
                continue
            freed += disk_usage(
                self.store.snapshotter.dir(self.store.snapshotter.require(container.record.snapshot_key).id)
            )[0]
            self.remove(container.record.id)
            removed.append(container.record.id)
        return PruneReport(containers=tuple(removed), space_reclaimed=freed)

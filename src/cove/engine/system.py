"""SystemService: info, version, disk usage and system-wide prune."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from cove.containers.state import Status
from cove.containers.store import ContainerStore
from cove.engine.images import ImageService
from cove.engine.runtimes import choose_runtime, rejected_runtimes
from cove.engine.store import Store
from cove.engine.types import DiskUsage, DiskUsageRow, ImageUsage, Info, PruneReport, VolumeUsage
from cove.errors import CoveError
from cove.oci.digest import chain_ids
from cove.oci.platform import host_platform
from cove.runtime.oci import RuntimeInfo
from cove.snapshots.usage import disk_usage
from cove.version import __version__

if TYPE_CHECKING:
    from cove.engine.build import BuildService
    from cove.engine.containers import ContainerService
    from cove.engine.networks import NetworkService
    from cove.engine.volumes import VolumeService


class SystemService:
    def __init__(
        self,
        store: Store,
        images: ImageService,
        networks: NetworkService | None = None,
        build: Callable[[], BuildService] | None = None,
        containers: Callable[[], ContainerService] | None = None,
        volumes: VolumeService | None = None,
    ) -> None:
        self.store = store
        self.images = images
        self.networks = networks
        self.build = build
        self.containers = containers
        self.volumes = volumes

    def _container_states(self) -> list[tuple[str, bool]]:
        """(snapshot key, running) of every container, from its real status: the monitor's
        record checked against what is alive (running, paused and restarting count, as in
        Docker), not the state column written at start and never since."""
        if self.containers is None:
            return []
        return [(c.record.snapshot_key, c.status.running) for c in self.containers().all()]

    def info(self) -> Info:
        statuses = [c.status.status for c in self.containers().all()] if self.containers else []
        total = len(statuses)
        paused = statuses.count(Status.PAUSED)
        running = sum(1 for s in statuses if s in (Status.RUNNING, Status.RESTARTING))
        images = self.store.images.count()
        runtime_error = ""
        host = self.store.host
        try:
            runtime: RuntimeInfo | None = choose_runtime(self.store)
        except CoveError as exc:
            runtime, runtime_error = None, exc.message
        return Info(
            containers=total,
            containers_running=running,
            containers_paused=paused,
            containers_stopped=total - running - paused,
            images=images,
            driver=self.store.snapshotter.driver,
            driver_reason=self.store.driver_reason,
            backing_filesystem=host.filesystem_type(self.store.root),
            root=str(self.store.root),
            runtime_dir=str(self.store.config.runtime_dir),
            kernel_version=host.kernel_version(),
            operating_system=host.operating_system(),
            architecture=str(host_platform().architecture),
            cpus=host.cpu_count(),
            memory=host.total_memory(),
            name=host.hostname(),
            server_version=__version__,
            config_file=str(self.store.config.config_file) if self.store.config.config_file else None,
            runtime=runtime.name if runtime else "",
            runtime_version=runtime.version if runtime else "",
            runtime_path=runtime.path if runtime else "",
            runtimes_rejected=rejected_runtimes(self.store),
            runtime_error=runtime_error,
            cgroup_version=host.cgroup_version(),
            insecure_registries=("127.0.0.0/8", "::1/128", *self.store.config.insecure_registries),
            registry_mirrors=self.store.config.registry_mirrors,
        )

    def df(self) -> DiskUsage:
        store = self.store
        content = store.content
        snapshots = {s.key: s for s in store.snapshotter.all()}
        summaries = self.images.list_images()
        used_images = set(ContainerStore(store.db).image_counts())

        # Which blobs and layer snapshots each image holds, as "blob:<digest>" / "layer:<chainID>"
        # (a plain layer's blob digest and chainID can be the same string).
        holders: dict[str, set[str]] = {}
        per_image: dict[str, set[str]] = {}
        for summary in summaries:
            record = store.images.get(summary.id)
            items: set[str] = {f"blob:{record.id}", f"blob:{record.manifest_digest}"}
            try:
                manifest = store.images.manifest(record)
                items.update(f"blob:{layer.digest}" for layer in manifest.layers)
                items.update(f"layer:{k}" for k in chain_ids(store.images.config(record).diff_ids))
            except CoveError:
                pass
            per_image[summary.id] = items
            for item in items:
                holders.setdefault(item, set()).add(summary.id)

        def size_of(item: str) -> int:
            kind, _, name = item.partition(":")
            if kind == "layer":
                snap = snapshots.get(name)
                return snap.usage if snap else 0
            return content.disk_usage(name)

        blob_total = sum(content.disk_usage(d) for d in content.digests())
        layer_total = sum(s.usage for s in snapshots.values() if s.kind == "committed")
        # Unfinished downloads are images' bytes too; the prunes remove those no pull writes.
        partials, idle_partials = content.partial_usage()
        images_size = blob_total + layer_total + partials
        reclaimable_items = {i for i, owners in holders.items() if not owners & used_images}
        reclaimable = sum(size_of(i) for i in reclaimable_items) + idle_partials
        # What only the build cache holds is the cache's, not the images'.
        records, cache_blobs, cache_chains, mounts_bytes = self._build_cache()
        cache_only = {f"blob:{b}" for b in cache_blobs} | {f"layer:{c}" for c in cache_chains}
        cache_only -= holders.keys()
        cache_size = sum(size_of(i) for i in cache_only)
        images_size -= cache_size
        # Content no image holds (left by an interrupted operation) can go as well.
        reclaimable += sum(
            content.disk_usage(d)
            for d in content.digests()
            if f"blob:{d}" not in holders and f"blob:{d}" not in cache_only
        )
        reclaimable += sum(
            s.usage
            for s in snapshots.values()
            if s.kind == "committed"
            and f"layer:{s.key}" not in holders
            and f"layer:{s.key}" not in cache_only
        )

        image_rows = []
        for summary in summaries:
            items = per_image[summary.id]
            shared = sum(size_of(i) for i in items if len(holders[i]) > 1)
            unique = sum(size_of(i) for i in items if len(holders[i]) == 1)
            image_rows.append(ImageUsage(summary, shared, unique))

        containers = self._container_states()
        container_size = container_reclaimable = active = 0
        for snapshot_key, running in containers:
            snap = snapshots.get(snapshot_key)
            size = store.snapshotter.usage(snap.key)[0] if snap and snap.kind == "active" else 0
            container_size += size
            if running:
                active += 1
            else:
                container_reclaimable += size
        volumes = self._volume_usage()
        rows = [
            DiskUsageRow(
                "Images", len(summaries), len(used_images & set(per_image)), images_size, reclaimable
            ),
            DiskUsageRow("Containers", len(containers), active, container_size, container_reclaimable),
            DiskUsageRow(
                "Local Volumes",
                len(volumes),
                sum(1 for v in volumes if v.links),
                sum(v.size for v in volumes),
                sum(v.size for v in volumes if not v.links),  # what `volume prune -a` frees
            ),
            DiskUsageRow("Build Cache", records, 0, cache_size + mounts_bytes, cache_size + mounts_bytes),
        ]
        return DiskUsage(rows, image_rows, disk_usage(store.root)[0], volumes)

    def _volume_usage(self) -> list[VolumeUsage]:
        return self.volumes.usage() if self.volumes is not None else []

    def _build_cache(self) -> tuple[int, set[str], set[str], int]:
        """(records, layer blobs, chainIDs, bytes of cache mounts) of the build cache."""
        if self.build is None:
            return 0, set(), set(), 0
        return self.build().cache_usage()

    def prune(self, *, all: bool = False) -> PruneReport:
        """Docker's ``system prune``: stopped containers, then the networks and images (dangling
        ones, or with ``all`` every one no container uses) and build cache they leave unused;
        then whatever nothing holds any more. Volumes stay, as Docker's do without --volumes."""
        report = PruneReport()
        if self.containers is not None:
            report += self.containers().prune()
        if self.networks is not None:
            report += self.networks.prune()
        images = self.images.prune(all=all)
        before = disk_usage(self.store.root)[0]
        if self.build is not None:  # dangling build cache; all of it with -a
            report += dataclasses.replace(self.build().prune(all=all, collect=False), space_reclaimed=None)
        with self.store.collecting(partials=True):
            self.store.collect_garbage()
            freed = max(0, before - disk_usage(self.store.root)[0])
        return report + images + PruneReport(space_reclaimed=freed)

"""What the engine services return: plain data, free of any wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cove.oci.digest import Digest


@dataclass(frozen=True)
class ImageSummary:
    id: Digest
    repo_tags: list[str]  # familiar names: busybox:latest
    repo_digests: list[str]
    created: str | None  # RFC 3339, from the image config
    size: int
    labels: dict[str, str]
    containers: int


@dataclass(frozen=True)
class ImageDetails:
    id: Digest
    repo_tags: list[str]
    repo_digests: list[str]
    manifest_digest: Digest
    manifest_media_type: str
    config: dict[str, Any]  # the image config JSON
    size: int
    added: float
    driver: str
    layer_paths: list[str]  # snapshot directories, top first
    tagged: float | None = None  # when the name it was found by last pointed at it (pull, tag, build)


@dataclass(frozen=True)
class HistoryRow:
    id: str  # the image ID on the top row, "<missing>" below
    created: str | None
    created_by: str
    size: int
    comment: str
    empty_layer: bool


@dataclass
class RemoveResult:
    name: str
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    error: Exception | None = None


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed, by kind, and the bytes it gave back; every prune returns one
    (a system prune, the sum of its parts). ``space_reclaimed`` is None where nothing is
    measured (networks hold no disk space), and a report then says no total."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    untagged: tuple[str, ...] = ()  # image names whose tags went
    images: tuple[str, ...] = ()  # image IDs deleted
    build_cache: tuple[str, ...] = ()  # build cache keys forgotten
    space_reclaimed: int | None = None

    def __add__(self, other: PruneReport) -> PruneReport:
        space = (
            None
            if self.space_reclaimed is None and other.space_reclaimed is None
            else (self.space_reclaimed or 0) + (other.space_reclaimed or 0)
        )
        return PruneReport(
            containers=self.containers + other.containers,
            networks=self.networks + other.networks,
            volumes=self.volumes + other.volumes,
            untagged=self.untagged + other.untagged,
            images=self.images + other.images,
            build_cache=self.build_cache + other.build_cache,
            space_reclaimed=space,
        )


@dataclass(frozen=True)
class DiskUsageRow:
    kind: str  # Images, Containers, Local Volumes, Build Cache
    total: int
    active: int
    size: int
    reclaimable: int


@dataclass(frozen=True)
class ImageUsage:
    summary: ImageSummary
    shared_size: int
    unique_size: int


@dataclass(frozen=True)
class VolumeUsage:
    name: str
    links: int  # containers that use it, in any state
    size: int  # bytes on disk


@dataclass(frozen=True)
class DiskUsage:
    rows: list[DiskUsageRow]
    images: list[ImageUsage]
    store_bytes: int  # everything under the root, database included
    volumes: list[VolumeUsage] = field(default_factory=list)


@dataclass(frozen=True)
class Info:
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int
    driver: str
    driver_reason: str
    backing_filesystem: str
    root: str
    runtime_dir: str
    kernel_version: str
    operating_system: str
    architecture: str
    cpus: int
    memory: int
    name: str
    server_version: str
    config_file: str | None
    runtime: str  # the OCI runtime containers use ("" when none works)
    runtime_version: str
    runtime_path: str
    runtimes_rejected: dict[str, str]  # found but unusable here -> why
    runtime_error: str  # why no runtime works, when none does
    cgroup_version: int
    containers_paused_count: int = 0
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    image_id: Digest
    tags: list[str]  # familiar names; empty when the image loaded untagged
    moved_from: list[tuple[str, str]]  # (tag, image it used to name)

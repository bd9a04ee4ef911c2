"""A container's files as the container sees them, reached from the host without leaving them.

Every path cove opens in a container (``cp`` both ways, the program check before a start
or an exec, the user and group files, a volume's first fill) goes through here, and from
here through :class:`cove.host.inroot.Root`: resolved inside the container's root and
opened in the same step, so no link the container plants, and no swap it makes while cove
works, leads to a file of the host.

- A running container is reached through ``/proc/<pid>/root``: its own mount namespace,
  with its binds, volumes and tmpfs mounts exactly where it sees them.
- A stopped one is mounted for the duration (its snapshot), and a path under one of its
  bind or volume targets goes to that source instead (the longest target that holds it,
  decided on the path as written; a link inside the rootfs that points into a mount
  therefore reaches the rootfs's directory under it, never anything outside).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cove.containers.model import BIND, VOLUME
from cove.containers.state import ContainerState, Status
from cove.containers.store import ContainerRecord
from cove.errors import CoveError
from cove.host.inroot import Root

if TYPE_CHECKING:
    from cove.engine.containers import ContainerService
    from cove.host.seam import Host
    from cove.volumes.store import VolumeStore


def _normalize(path: str) -> str:
    """``path`` as an absolute path with ``.`` and ``..`` taken lexically (as mounts are chosen)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


@dataclass(frozen=True)
class _Mount:
    """What the container sees at ``target``: ``inner`` of ``root`` ("/" for a directory, the
    file's name in its directory for a file)."""

    target: str
    root: Root
    inner: str = "/"


@dataclass
class ContainerFiles:
    """The container's root and mounts (the longest target that holds a path wins)."""

    mounts: list[_Mount]

    def locate(self, path: str) -> tuple[Root, str]:
        """The root that holds ``path`` and the path within it."""
        normalized = _normalize(path)
        best: _Mount | None = None
        for mount in self.mounts:
            target = mount.target
            inside = target in ("/", normalized) or (
                normalized.startswith(target + "/") and mount.inner == "/"
            )
            if inside and (best is None or len(target) > len(best.target)):
                best = mount
        assert best is not None, "the container's root is always among the mounts"
        if best.target == "/":
            return best.root, normalized
        rest = normalized[len(best.target) :]
        return best.root, (best.inner.rstrip("/") + rest) or "/"

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o644, *, follow: bool = True) -> int:
        root, rest = self.locate(path)
        return root.open(rest, flags, mode, follow=follow)

    def open_dir(self, path: str) -> int:
        root, rest = self.locate(path)
        return root.open_dir(rest)

    def parent(self, path: str) -> tuple[int, str]:
        root, rest = self.locate(path)
        return root.parent(rest)

    def lstat(self, path: str) -> os.stat_result | None:
        root, rest = self.locate(path)
        return root.lstat(rest)

    def stat(self, path: str) -> os.stat_result | None:
        root, rest = self.locate(path)
        return root.stat(rest)

    def read_file(self, path: str, limit: int) -> bytes | None:
        root, rest = self.locate(path)
        return root.read_file(rest, limit)

    def make_dirs(self, path: str, mode: int = 0o755) -> tuple[int, bool]:
        root, rest = self.locate(path)
        return root.make_dirs(rest, mode)

    def close(self) -> None:
        for mount in self.mounts:
            mount.root.close()


def _process_root(host: Host, status: ContainerState) -> Root | None:
    """The root of a running container's init, as it sees it; None when it is not running
    (or its PID is now another process's)."""
    if not status.running or not status.pid:
        return None
    try:
        root = Root(str(host.proc_path(f"{status.pid}/root")))
    except OSError:
        return None
    # Opened first, checked after: if the PID still is the container's init now, the
    # descriptor is its root (a PID reused in between would fail this check).
    if host.start_time(status.pid) != status.pid_start:
        root.close()
        return None
    return root


@contextlib.contextmanager
def container_files(
    service: ContainerService, record: ContainerRecord, status: ContainerState
) -> Iterator[ContainerFiles]:
    """The container's files for the duration of the block (see the module's notes)."""
    live = _process_root(service.store.host, status)
    if live is not None:
        files = ContainerFiles([_Mount("/", live)])
        try:
            yield files
        finally:
            files.close()
        return
    with stopped_view(service, record) as rootfs:
        files = mapped_files(service.volumes, record, rootfs)
        try:
            yield files
        finally:
            files.close()


def mapped_files(volumes: VolumeStore, record: ContainerRecord, rootfs: Path) -> ContainerFiles:
    """The files of a container that is not running, its root filesystem mounted at ``rootfs``:
    paths under its bind and volume targets go to their sources (the caller closes it)."""
    files = ContainerFiles([_Mount("/", Root(rootfs))])
    try:
        for m in record.config.mounts:
            if m.type == BIND:
                source = m.source
            elif m.type == VOLUME:
                source = str(volumes.data_dir(m.source))
            else:
                continue
            target = _normalize(m.target)
            try:
                files.mounts.append(_Mount(target, Root(source)))
            except NotADirectoryError:  # a file's bind: the file, in its directory
                directory, name = os.path.split(source.rstrip("/"))
                files.mounts.append(_Mount(target, Root(directory or "/"), "/" + name))
            except FileNotFoundError:
                continue
    except BaseException:
        files.close()
        raise
    return files


@contextlib.contextmanager
def stopped_view(service: ContainerService, record: ContainerRecord) -> Iterator[Path]:
    """The container's root filesystem, mounted for the duration (if it is not already)."""
    service.settle(record.id)
    rootfs = service.rootfs(record.id)
    host = service.store.host
    if host.is_mountpoint(rootfs):
        yield rootfs
        return
    tmp_dir = service.store.tmp_dir
    tmp_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cove-view-", dir=tmp_dir) as tmp:
        target = Path(tmp)
        host.mount_all(service.store.snapshotter.mounts(record.snapshot_key), target)
        try:
            yield target
        finally:
            host.unmount(target, lazy=True)


@contextlib.contextmanager
def paused(service: ContainerService, record: ContainerRecord, status: ContainerState) -> Iterator[None]:
    """A running container paused for the duration (as Docker does for cp), so that nothing
    in it moves while cove copies; one that is not running, or paused already, stays so."""
    if status.status != Status.RUNNING:
        yield
        return
    try:
        service.pause(record.id)
    except CoveError:  # stopped or paused meanwhile (the copy is safe without it: see above)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(CoveError):
            service.unpause(record.id)

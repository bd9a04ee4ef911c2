"""Syncing changed files into a service's containers, as Docker Compose's watch does: the files
that exist go in one tar unpacked at the container's ``/`` by the engine's copy verb (its safe
helpers resolve every path inside the container), the ones that are gone are removed with
``rm -rf`` run in each running container."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from cove.compose import names
from cove.compose.watch import PathMapping, WatchActionFailed
from cove.errors import CoveError

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.engine.containers.model import Container

SPOOL_IN_MEMORY = 8 << 20  # bytes of tar kept in memory before it spills to a temporary file
WHITEOUT = ".wh."


def service_containers(
    backend: EngineBackend, project: str, service: str, *, all: bool = True
) -> list[Container]:
    """The service's containers (not ``run``'s one-off ones), stopped ones too when ``all``."""
    filters = names.project_filter(project, service=service, oneoff="False")
    return sorted(backend.list_containers(filters, all=all), key=lambda c: c.record.name)


def _owner(container: Container) -> tuple[int, int]:
    """Who the synced files belong to: the container's user when it is numeric, else root
    (Docker Compose asks the engine to give them the container's user)."""
    user = container.record.config.user or ""
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        return int(uid), int(gid) if gid.isdigit() else int(uid)
    return 0, 0


def write_tar(out: IO[bytes], mappings: Sequence[PathMapping], owner: tuple[int, int] = (0, 0)) -> int:
    """A tar of the mappings' host files at their container paths (relative to ``/``); later
    entries for the same name win. The number of entries written.

    A directory is its own entry only, not what it holds: the watcher reports each file of a
    new directory by itself, so that every file goes through the rules' ignores (Docker
    Compose copies a new directory whole, ignored files included)."""
    entries: dict[str, str] = {}
    for mapping in mappings:
        assert mapping.container_path is not None
        name = mapping.container_path.strip("/")
        if posixpath.basename(name).startswith(WHITEOUT):
            continue  # the engine's unpacking would take it for a deletion of its namesake
        entries.pop(name, None)
        entries[name] = mapping.host_path
    written = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, host in entries.items():
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                continue  # deleted since it changed: its deletion comes with the next batch
            info = tarfile.TarInfo(name)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.uid, info.gid = owner
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(host)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                try:
                    f = open(host, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    continue
                with f:
                    size = os.fstat(f.fileno()).st_size
                    info.size = size
                    tar.addfile(info, _Exactly(f, size))
            else:
                continue  # sockets, devices, fifos: not something to sync
            written += 1
    return written


class _Exactly:
    """``size`` bytes of a file that may change while it is read (padded or cut to the size
    its tar header already says)."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        data += b"\0" * (n - len(data))
        self.left -= n
        return data


class Syncer:
    """Copies batches of changed files into the running containers of a project's services."""

    def __init__(self, backend: EngineBackend, project: str) -> None:
        self.backend = backend
        self.project = project

    def sync(self, service: str, mappings: Sequence[PathMapping]) -> None:
        existing = [m for m in mappings if m.container_path and os.path.lexists(m.host_path)]
        gone = sorted({m.container_path for m in mappings if m.container_path and m not in existing})
        errors = []
        for container in service_containers(self.backend, self.project, service):
            ref = container.record.id
            try:
                if gone and container.status.running:
                    with open(os.devnull, "wb") as devnull:
                        code = self.backend.exec_process(
                            ref, ["rm", "-rf", *gone], stdout=devnull.fileno(), stderr=devnull.fileno()
                        )
                    if code != 0:
                        errors.append(f"deleting paths in {container.record.name}: exit code {code}")
                if existing:
                    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
                        write_tar(spool, existing, _owner(container))
                        spool.seek(0)
                        self.backend.copy_to(ref, "/", spool)  # type: ignore[arg-type]
            except (CoveError, OSError) as e:  # one container's failure does not stop the others
                errors.append(f"copying files to {container.record.name}: {e}")
        if errors:
            raise WatchActionFailed("; ".join(errors))

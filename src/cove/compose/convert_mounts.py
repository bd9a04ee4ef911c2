"""A service's filesystem keys as the engine's mounts: ``volumes`` (named, anonymous, bind,
tmpfs), ``tmpfs``, ``shm_size`` and ``volumes_from`` (the mounts of another container, which
the caller looks up: this module asks the engine nothing)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from cove.compose import names
from cove.compose.errors import ComposeError
from cove.compose.model import Mount, MountType, Project, Service
from cove.engine.requests import BIND, TMPFS, VOLUME, MountSpec, parse_tmpfs
from cove.errors import InvalidArgument

MountsOf = Callable[[str], Sequence[MountSpec]]
# Docker's /dev/shm (runtime/spec.py's default), at the size shm_size asks.
SHM_OPTIONS = ("nosuid", "noexec", "nodev")


def _mount(project: Project, service: Service, index: int, m: Mount) -> MountSpec:
    where = f"services.{service.name}.volumes[{index}]"
    if m.type is MountType.VOLUME:
        if m.subpath:
            raise ComposeError(f"{where}: volume.subpath is not supported by cove's engine")
        if not m.source:
            return MountSpec(VOLUME, m.target, "", m.read_only, no_copy=m.nocopy)
        volume = project.volumes.get(m.source)
        if volume is None:
            raise ComposeError(f'{where}: undefined volume "{m.source}"')
        return MountSpec(VOLUME, m.target, volume.name, m.read_only, no_copy=m.nocopy)
    if m.type is MountType.BIND:
        if not m.source or not m.source.startswith("/"):
            raise ComposeError(f'{where}: a bind mount needs an absolute host path, not "{m.source or ""}"')
        # (selinux z/Z is ignored, as cove run does: cove sets no SELinux labels)
        return MountSpec(
            BIND, m.target, m.source, m.read_only, m.propagation or "", create_host_path=m.create_host_path
        )
    if m.type is MountType.TMPFS:
        if m.source:
            raise ComposeError(f'{where}: a tmpfs mount takes no source ("{m.source}")')
        return MountSpec(
            TMPFS, m.target, readonly=m.read_only, tmpfs_size=m.tmpfs_size, tmpfs_mode=m.tmpfs_mode
        )
    raise ComposeError(f"{where}: mounts of type {m.type.value} are not supported by cove's engine")


def service_mounts(project: Project, service: Service, mounts_of: MountsOf | None = None) -> list[MountSpec]:
    """Every mount of the service's containers, in Docker's order of precedence: its own
    volumes and tmpfs first, then volumes_from's on the targets still free, then /dev/shm."""
    mounts = [_mount(project, service, i, m) for i, m in enumerate(service.volumes)]
    for i, spec in enumerate(service.tmpfs):
        try:
            mounts.append(parse_tmpfs(spec))
        except InvalidArgument as exc:
            raise ComposeError(f"services.{service.name}.tmpfs[{i}]: {exc}") from None
    taken = {m.target.rstrip("/") or "/" for m in mounts}
    for i, ref in enumerate(service.volumes_from):
        for m in _volumes_from(project, service, i, ref, mounts_of):
            if (m.target.rstrip("/") or "/") not in taken:
                taken.add(m.target.rstrip("/") or "/")
                mounts.append(m)
    if service.shm_size is not None and "/dev/shm" not in taken:
        mounts.append(
            MountSpec(
                TMPFS, "/dev/shm", tmpfs_size=service.shm_size, tmpfs_mode=0o1777, tmpfs_options=SHM_OPTIONS
            )
        )
    return mounts


def first_container(project: Project, service_name: str) -> str:
    """The engine's name of a service's first container (``network_mode``/``volumes_from``
    ``service:X`` mean it)."""
    other = project.services.get(service_name)
    if other is not None and other.container_name:
        return other.container_name
    return names.container_name(project.name, service_name, 1)


def _volumes_from(
    project: Project, service: Service, index: int, ref: str, mounts_of: MountsOf | None
) -> list[MountSpec]:
    """``NAME[:ro|rw]`` (a service) or ``container:NAME[:ro|rw]``: the other container's
    volumes and binds (not its tmpfs, as Docker), read-only when asked, else as they are."""
    where = f"services.{service.name}.volumes_from[{index}]"
    parts = ref.split(":")
    if parts[0] == "container":
        if len(parts) < 2 or not parts[1]:
            raise ComposeError(f'{where}: invalid volumes_from "{ref}"', hint="use container:NAME[:ro]")
        container, mode = parts[1], parts[2:]
    else:
        container, mode = first_container(project, parts[0]), parts[1:]
    if len(mode) > 1 or (mode and mode[0] not in ("ro", "rw")):
        raise ComposeError(f'{where}: invalid volumes_from "{ref}"', hint="the mode is ro or rw")
    if mounts_of is None:
        raise ComposeError(f"{where}: the mounts of {container} were not given to the converter")
    readonly = {"ro": True, "rw": False}.get(mode[0]) if mode else None
    out = []
    for m in mounts_of(container):
        if m.type == TMPFS:
            continue
        out.append(m if readonly is None else dataclasses.replace(m, readonly=readonly))
    return out

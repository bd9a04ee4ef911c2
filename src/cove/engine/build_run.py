"""A RUN step's command in the OCI runtime: its /etc files, mounts and spec, made as a
container's are (default capabilities and seccomp profile), run in the foreground."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

from cove.build.backend import RunFailed, RunRequest
from cove.containers import etcfiles
from cove.containers import spec as container_spec
from cove.containers.model import ContainerConfig, NetworkKind, NetworkMode
from cove.containers.users import resolve_user
from cove.errors import CoveError
from cove.host.inroot import Root, opened
from cove.host.locks import FileLock
from cove.host.seam import Host
from cove.runtime import caps as capabilities
from cove.runtime.oci import OciRuntime, error_from_log

# Paths the runtime may create in a RUN's snapshot to mount over: not part of the layer.
MOUNT_POINTS = frozenset({"etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev"})


def run_in_sandbox(
    host: Host,
    runtime: OciRuntime,
    name: str,
    directory: Path,
    rootfs: Path,
    request: RunRequest,
    output: Callable[[bytes], None],
    cache_mounts: Path,
) -> int:
    """Run ``request`` on the mounted ``rootfs`` in the runtime's foreground; its exit code.
    ``directory`` holds the bundle and the /etc files; ``cache_mounts`` the cache mounts."""
    with contextlib.ExitStack() as locks:  # cache mounts with sharing=locked, held for the run
        with Root(rootfs) as root:
            user = resolve_user(request.user or None, root)
            # WORKDIR makes its directory, owned by root (Docker's rule)
            os.close(root.make_dirs(request.workdir)[0])
        host_network = request.network in ("default", "host")
        etc = directory / "etc"
        etc.mkdir()
        (etc / "hostname").write_text(f"{name}\n")
        (etc / "hosts").write_text(etcfiles.hosts_file([], host_network) + f"127.0.0.1\t{name}\n")
        (etc / "resolv.conf").write_text(
            etcfiles.resolv_conf(host_network=host_network, dns=[], dns_search=[])
        )
        config = ContainerConfig(
            image="",
            entrypoint=[],
            cmd=request.argv,
            env=request.env,
            network=NetworkMode(NetworkKind.HOST if host_network else NetworkKind.NONE),
        )
        spec = container_spec.build(
            container_id=name,
            config=config,
            image={},
            rootfs=rootfs,
            hostname=name,
            user=user,
            mounts=_host_mounts(host, request, cache_mounts, locks, directory),
            etc_dir=etc,
            cgroup_version=host.cgroup_version(),
            cpus_available=host.cpu_count(),
            init_binary=None,
            known_caps=capabilities.host_caps(*host.capability_sets()),
            hard_limit=host.hard_rlimit,
        )
        spec["process"]["cwd"] = request.workdir
        bundle = directory / "bundle"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(spec))
        argv = runtime.argv("run", "--bundle", str(bundle), name, log=directory / "runtime.log")
        try:
            code = host.run_streaming(argv, output)
        finally:
            # `run` in the foreground deletes its container when the command ends; one that
            # was interrupted may still be there.
            if (runtime.state_root / name).exists():
                with contextlib.suppress(CoveError):
                    runtime.delete(name, force=True)
        if code != 0:
            # The runtime logs an error only when it could not start the command at all.
            log = directory / "runtime.log"
            logged = log.read_text(errors="replace") if log.exists() else ""
            if '"error"' in logged or '"fatal"' in logged:
                message = error_from_log(log)
                raise RunFailed(f"the command could not start: {message}", code)
        return code


def _host_mounts(
    host: Host, request: RunRequest, cache_mounts: Path, locks: contextlib.ExitStack, directory: Path
) -> list[container_spec.HostMount]:
    out = []
    for m in request.mounts:
        if m.kind == "tmpfs":
            out.append(container_spec.HostMount("tmpfs", "tmpfs", m.target, ("nosuid", "nodev", *m.options)))
            continue
        source = m.source
        if m.kind == "cache":
            source = str(
                _cache_dir(m.source, dict(o.split("=", 1) for o in m.options), cache_mounts, locks, directory)
            )
        elif m.root:
            source = str(_stage_bind(host, Path(m.root), m.source, directory / f"bind-{len(out)}", locks))
        out.append(
            container_spec.HostMount("bind", source, m.target, container_spec.bind_options(m.readonly))
        )
    return out


def _stage_bind(host: Host, root: Path, source: str, staging: Path, mounts: contextlib.ExitStack) -> Path:
    """What ``source`` leads to inside ``root``, bound at ``staging`` (a path of cove's own, for
    the runtime to bind again): resolved and pinned by a descriptor, then mounted through it,
    so that no link in the context, and no change made to it meanwhile, leads the runtime
    anywhere else. Unmounted when ``mounts`` closes."""
    with Root(root) as inside:
        try:
            pinned = inside.open(source, os.O_PATH)
        except (FileNotFoundError, NotADirectoryError):
            raise RunFailed(f"the bind mount's source {source} is not in its root any more", 125) from None
    with opened(pinned):
        if stat.S_ISDIR(os.fstat(pinned).st_mode):
            staging.mkdir()
        else:
            staging.touch()
        host.bind_fd(pinned, staging)
    mounts.callback(host.unmount, staging, lazy=True)
    return staging


def _cache_dir(
    cache_id: str, options: dict[str, str], cache_mounts: Path, locks: contextlib.ExitStack, directory: Path
) -> Path:
    """The directory of a cache mount, by BuildKit's sharing rules: ``shared`` by every RUN at
    once, ``locked`` by one RUN at a time (the others wait), ``private``: a RUN that finds it
    in use gets a fresh, throwaway directory."""
    path = cache_mounts / _cache_dir_name(cache_id)
    path.mkdir(parents=True, exist_ok=True)
    sharing = options.get("sharing", "shared")
    if sharing == "shared":
        return path
    lock = FileLock(path.with_name(path.name + ".lock"))
    if sharing == "locked":
        locks.enter_context(lock.exclusive())
        return path
    if lock.acquire(blocking=False):
        locks.callback(lock.release)
        return path
    fresh = directory / f"cache-{_cache_dir_name(cache_id)}"
    fresh.mkdir()
    return fresh


def mount_targets(request: RunRequest) -> set[str]:
    """Every directory on the way to each mount's target (the runtime may make them)."""
    out: set[str] = set()
    for mount in request.mounts:
        parts = mount.target.strip("/").split("/")
        out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def _cache_dir_name(cache_id: str) -> str:
    return hashlib.sha256(cache_id.encode()).hexdigest()[:32]

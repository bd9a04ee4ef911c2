"""ContainerService: create, start, stop, kill, restart, remove, wait, pause, rename, update, prune."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.containers import binds, etcfiles
from cove.containers import spec as container_spec
from cove.containers.model import BIND, TMPFS, VOLUME, ContainerConfig, HealthConfig, MountSpec
from cove.containers.names import check_name
from cove.containers.state import ContainerState, Status, read_state
from cove.containers.store import ContainerRecord, ContainerStore
from cove.containers.users import resolve_user
from cove.engine.container_files import ContainerFiles, mapped_files
from cove.engine.container_types import ContainerDetails, MountPoint
from cove.engine.runtimes import choose_runtime
from cove.engine.store import Store
from cove.errors import (
    Conflict,
    CoveError,
    ExitStatusUnknown,
    FailedPrecondition,
    ImageNotFound,
    InvalidArgument,
    Unavailable,
)
from cove.host import cgroups, sysinfo
from cove.host.elf import is_static
from cove.host.inroot import DIRECTORY_FLAGS, Root, opened
from cove.host.locks import FileLock
from cove.host.mounts import is_mountpoint, mount_all, unmount
from cove.host.process import alive, wait_exit
from cove.host.trees import remove_quietly
from cove.images.store import ImageRecord
from cove.monitor import client as monitor
from cove.monitor import protocol as requests
from cove.monitor.config import LogConfig, MonitorConfig, ProbeConfig
from cove.oci.digest import chain_ids
from cove.runtime import caps as capabilities
from cove.runtime.oci import OciRuntime, RuntimeFailure, RuntimeInfo
from cove.units import parse_signal
from cove.volumes.store import VolumeStore

if TYPE_CHECKING:
    from cove.engine.networks import Binding, NetworkService

DEFAULT_STOP_TIMEOUT = 10
# Logs rotate by default, like Docker's "local" driver: 5 files of 20 MiB.
DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_LOG_MAX_FILES = 5
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")
SOCKET_PATH_MAX = 107
SHED_AFTER_ATTACHED = 2.0


class ContainerStartError(CoveError):
    """The container's program could not be started; ``exit_code`` is Docker's (125/126/127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Container:
    record: ContainerRecord
    status: ContainerState


def health_from_image(image: dict[str, Any]) -> HealthConfig | None:
    hc = image.get("Healthcheck")
    if not isinstance(hc, dict) or not hc.get("Test"):
        return None
    ns = 1e9
    return HealthConfig(
        test=list(hc["Test"]),
        interval=(hc.get("Interval") or 0) / ns,
        timeout=(hc.get("Timeout") or 0) / ns,
        retries=int(hc.get("Retries") or 0),
        start_period=(hc.get("StartPeriod") or 0) / ns,
        start_interval=(hc.get("StartInterval") or 0) / ns,
    )


def effective_health(config: ContainerConfig, image: dict[str, Any]) -> HealthConfig | None:
    """Docker's merge of the container's health settings over the image's HEALTHCHECK: each
    setting the container leaves unset (empty test, zero timing) is the image's."""
    if config.no_healthcheck:
        return None
    own, image_health = config.healthcheck, health_from_image(image)
    if own is None or image_health is None:
        merged = own or image_health
    else:
        merged = HealthConfig(
            **{f.name: getattr(own, f.name) or getattr(image_health, f.name) for f in dataclasses.fields(own)}
        )
    return merged if merged is not None and merged.test else None


class ContainerService:
    def __init__(self, store: Store, volumes: VolumeStore) -> None:
        self.store = store
        self.records = ContainerStore(store.db)
        self.volumes = volumes
        self.containers_dir = store.root / "containers"
        self.run_dir = store.config.runtime_dir

    @cached_property
    def networks(self) -> NetworkService:
        from cove.engine.networks import NetworkService

        return NetworkService(self.store, self._name_of)

    def _name_of(self, cid: str) -> str:
        try:
            return self.records.get(cid).name
        except CoveError:
            return cid[:12]

    # -- places ------------------------------------------------------------------------

    def dir(self, cid: str) -> Path:
        return self.containers_dir / cid

    def rootfs(self, cid: str) -> Path:
        return self.dir(cid) / "bundle" / "rootfs"

    def socket(self, cid: str) -> Path:
        return self.run_dir / "s" / cid[:16]

    def log_path(self, cid: str) -> Path:
        return self.dir(cid) / f"{cid}-json.log"

    def runtime_of(self, record: ContainerRecord) -> OciRuntime:
        info = RuntimeInfo(**json.loads(record.runtime))
        return OciRuntime(info, self.run_dir / "runtime" / info.name, self.store.runner)

    def _store_env(self) -> dict[str, str]:
        config = self.store.config
        env = {"COVE_ROOT": str(config.root), "COVE_RUNTIME_DIR": str(config.runtime_dir)}
        if config.config_file is not None:
            env["COVE_CONFIG"] = str(config.config_file)
        if config.runtime:
            env["COVE_RUNTIME"] = config.runtime
        return env

    def _ops_lock(self, cid: str) -> FileLock:
        return FileLock(self.dir(cid) / "ops.lock")

    # -- looking up ----------------------------------------------------------------------

    def state(self, cid: str) -> ContainerState:
        """The container's state as it really is (the one reader, containers.state)."""
        return read_state(self.dir(cid), self.store.host)

    def get(self, ref: str) -> Container:
        record = self.records.resolve(ref)
        return Container(record, self.state(record.id))

    def all(self) -> list[Container]:
        return [Container(r, self.state(r.id)) for r in self.records.all()]

    def list_containers(
        self, *, all: bool = False, filters: dict[str, list[str]] | None = None, last: int | None = None
    ) -> list[Container]:
        """Newest first, as ``docker ps``: running only unless ``all`` (or ``last``)."""
        containers = self.all()
        if last is not None and last > 0:
            containers = containers[:last]
        elif not all and "status" not in (filters or {}):
            containers = [c for c in containers if c.status.running]
        return filter_containers(self, containers, filters or {})

    def image_config(self, record: ContainerRecord) -> dict[str, Any]:
        if record.config.image_defaults:
            return record.config.image_defaults
        try:
            image = self.store.images.get(record.image_id)
            config: dict[str, Any] = self.store.images.config(image).config
            return config
        except CoveError:
            return {}

    def details(self, ref: str) -> ContainerDetails:
        container = self.get(ref)
        record = container.record
        image = self.image_config(record)
        try:
            cmd = container_spec.command(record.config, image)
        except CoveError:
            cmd = []
        env: dict[str, str] = {}
        for item in list(image.get("Env") or []) + list(record.config.env):
            key, _, value = item.partition("=")
            env[key] = value
        mounts = []
        for m in record.config.mounts:
            source = str(self.volumes.data_dir(m.source)) if m.type == VOLUME else m.source
            mounts.append(
                MountPoint(
                    m.type, m.source if m.type == VOLUME else "", source, m.target, m.readonly, m.propagation
                )
            )
        graph: dict[str, str] = {}
        with contextlib.suppress(CoveError):
            for mount in self.store.snapshotter.mounts(record.snapshot_key):
                for option in mount.options:
                    key, _, value = option.partition("=")
                    if key in ("lowerdir", "upperdir", "workdir"):
                        graph[{"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}[key]] = (
                            value
                        )
                if mount.type == "bind":
                    graph["UpperDir"] = mount.source
            graph["MergedDir"] = str(self.rootfs(record.id))
        directory = self.dir(record.id)
        return ContainerDetails(
            record=record,
            status=container.status,
            command=cmd,
            env=[f"{k}={v}" for k, v in env.items()],
            image_config=image,
            mounts=mounts,
            driver=self.store.snapshotter.driver,
            graph_data=graph,
            resolv_conf_path=str(directory / "resolv.conf"),
            hostname_path=str(directory / "hostname"),
            hosts_path=str(directory / "hosts"),
            log_path=str(self.log_path(record.id)),
            runtime=json.loads(record.runtime).get("name", "") if record.runtime else "",
            health=effective_health(record.config, image),
            **self._network_details(record, container.status.running),
        )

    def _network_details(self, record: ContainerRecord, running: bool) -> dict[str, Any]:
        endpoints = self.networks.records.endpoints(container_id=record.id)
        if not endpoints:
            return {}
        from cove.host.netlink import netns_path

        networks = []
        for e in endpoints:
            n = self.networks.records.get(e.network_id)
            networks.append((n.name, n.id, e, n.gateway, int(n.subnet.split("/")[1])))
        path = netns_path(self.networks.netns_name(record.id))
        return {
            "networks": networks,
            "ports": self.networks.bindings(record.id) if running else [],
            "sandbox_key": str(path) if running and path.exists() else "",
        }

    # -- create ------------------------------------------------------------------------

    def _image(self, name: str, pull: str) -> ImageRecord:
        try:
            return self.store.images.resolve(name)
        except ImageNotFound as exc:
            if pull == "never":
                raise
            raise ImageNotFound(exc.ref) from None

    def create(
        self, config: ContainerConfig, name: str | None = None, *, pull: str = "missing"
    ) -> ContainerRecord:
        if pull not in ("missing", "always", "never"):
            raise InvalidArgument(f"invalid pull policy {pull!r}", hint="use missing, always or never")
        if name is not None:
            name = check_name(name)
        # rmi decides that an image is unused from the containers table, holding the store lock
        # alone; so the image is resolved under that lock (shared) and the container is recorded
        # before it is let go: either rmi ran first (No such image) or it sees this container.
        with self.store.writing():
            return self._create(config, name, pull)

    def _create(self, config: ContainerConfig, name: str | None, pull: str) -> ContainerRecord:
        image = self._image(config.image, pull)
        image_config = self.store.images.config(image)
        defaults = image_config.config
        info = choose_runtime(self.store, config.runtime)
        config = dataclasses.replace(config, mounts=list(config.mounts))
        self._validate(config, defaults)
        cid = secrets.token_hex(32)
        if len(str(self.socket(cid))) > SOCKET_PATH_MAX:
            raise InvalidArgument(
                f"the runtime directory {self.run_dir} is too long a path for unix sockets",
                hint="set COVE_RUNTIME_DIR to a shorter path",
            )
        chain = chain_ids(image_config.diff_ids)
        snapshot_key = f"container-{cid}"
        directory = self.dir(cid)
        self.store.snapshotter.prepare(snapshot_key, chain[-1] if chain else None)
        try:
            directory.mkdir(parents=True)
            (directory / "bundle" / "rootfs").mkdir(parents=True)
            self.log_path(cid).touch()
            hostname = config.hostname or (sysinfo.hostname() if config.network == "host" else cid[:12])
            self._write_etc_files(directory, config, hostname)
            self._volumes_for(config, defaults)
            record = ContainerRecord(
                id=cid,
                name=name or "",
                image_id=image.id,
                image_ref=config.image,
                snapshot_key=snapshot_key,
                created=time.time(),
                config=dataclasses.replace(config, hostname=hostname, image_defaults=dict(defaults)),
                runtime=json.dumps(info._asdict()),
            )
            record = self.records.add(record, pick_name=name is None)
            for mount in config.mounts:
                if mount.type == VOLUME:
                    self.volumes.attach(cid, mount.source, mount.target)
            self._plan_network(record, directory)
        except BaseException:
            with contextlib.suppress(CoveError, OSError):
                self.records.delete(cid)
            with contextlib.suppress(CoveError, OSError):
                self.store.snapshotter.remove(snapshot_key)
            remove_quietly(directory)
            raise
        return record

    def _validate(self, config: ContainerConfig, image: dict[str, Any]) -> None:
        container_spec.command(config, image)
        container_spec.working_dir(config, image)
        container_spec.rlimits(config)
        container_spec.resources(config, sysinfo.cpu_count())
        container_spec.stop_signal(config, image)
        # Unknown names, and capabilities this host cannot grant, fail at create as in Docker.
        capabilities.effective_caps(config.cap_add, config.cap_drop, privileged=config.privileged)
        if config.restart not in ("no", "always", "unless-stopped", "on-failure"):
            raise InvalidArgument(f"invalid restart policy {config.restart!r}")
        if config.restart != "no" and config.auto_remove:
            raise InvalidArgument("conflicting options: cannot combine --restart and --rm")
        mode = config.network
        if mode.startswith("container:"):
            self.records.resolve(mode.split(":", 1)[1])
        elif mode not in ("private", "none", "host"):
            self.networks.get(mode)  # raises when there is no such network
        elif config.ip or config.network_aliases:
            raise InvalidArgument(f"--ip and --network-alias need a user-defined network, not {mode}")
        for device in config.devices:
            if not os.path.exists(device.host_path):
                raise InvalidArgument(
                    "error gathering device information while adding custom device "
                    f'"{device.host_path}": no such file or directory'
                )
        seen: set[str] = set()
        for mount in config.mounts:
            if not mount.target.startswith("/"):
                raise InvalidArgument(f"invalid mount target {mount.target!r}: it must be an absolute path")
            if mount.target in seen:
                raise InvalidArgument(f"duplicate mount point: {mount.target}")
            seen.add(mount.target)
            if mount.type == BIND:
                if not mount.source.startswith("/"):
                    raise InvalidArgument(
                        f"invalid bind source {mount.source!r}: it must be an absolute path"
                    )
                if not os.path.exists(mount.source) and not mount.create_host_path:
                    raise InvalidArgument(
                        'invalid mount config for type "bind": '
                        f"bind source path does not exist: {mount.source}"
                    )

    def _volumes_for(self, config: ContainerConfig, image: dict[str, Any]) -> None:
        """Create the named and anonymous volumes the container needs (fills ``source``)."""
        targets = {m.target.rstrip("/") or "/" for m in config.mounts}
        for path in image.get("Volumes") or {}:
            if path.rstrip("/") not in targets:
                config.mounts.append(MountSpec(VOLUME, path))
        for mount in config.mounts:
            if mount.type == VOLUME:
                volume = self.volumes.create(mount.source or None)
                mount.source = volume.name

    def _plan_network(self, record: ContainerRecord, directory: Path) -> None:
        """Take the container's addresses; /etc/hosts names its own (as Docker's does)."""
        from cove.engine.networks import Attachment

        config = record.config
        if config.network in ("private", "none", "host") or config.network.startswith("container:"):
            return
        self.networks.plan(
            record.id,
            config.network,
            [Attachment(config.network, tuple(config.network_aliases), config.ip, config.mac_address)],
        )
        endpoints = self.networks.records.endpoints(container_id=record.id)
        if endpoints:
            first = self.networks.records.get(endpoints[0].network_id)
            # On a user-defined network, names resolve through its DNS server at the gateway
            # (which forwards other names to the container's --dns servers, else the host's).
            dns = [first.gateway] if first.user_defined else config.dns
            self._write_etc_files(
                directory,
                dataclasses.replace(config, dns=dns),
                config.hostname or record.id[:12],
                endpoints[0].ip,
            )

    def _network_namespace(self, record: ContainerRecord) -> str | None:
        """The network namespace the container joins at start (None: a new one, or the host's)."""
        mode = record.config.network
        if mode in ("host", "private", "none"):
            return None
        if mode.startswith("container:"):
            other = self.records.resolve(mode.split(":", 1)[1])
            from cove.host.netlink import netns_path

            path = netns_path(self.networks.netns_name(other.id))
            status = self.state(other.id)
            if not status.running:
                raise FailedPrecondition(
                    f"cannot join network namespace of a non running container: {other.name}"
                )
            return str(path) if path.exists() else f"/proc/{status.pid}/ns/net"
        from cove.engine.networks import PortSpec
        from cove.network.ports import parse_expose

        specs = [PortSpec(**p) for p in record.config.publish]
        if record.config.publish_all:
            image = self.image_config(record)
            exposed = [*(image.get("ExposedPorts") or {}), *record.config.expose]
            published = {(s.container_port, s.protocol) for s in specs}
            for text in exposed:
                for port, protocol in parse_expose(text):
                    if (port, protocol) not in published:
                        specs.append(PortSpec(port, protocol))
                        published.add((port, protocol))
        self.networks.bind_ports(record.id, specs)
        netns = self.networks.wire(record.id)
        return str(netns) if netns is not None else None

    def _write_etc_files(
        self, directory: Path, config: ContainerConfig, hostname: str, address: str | None = None
    ) -> None:
        host_network = config.network == "host"
        extra = []
        for item in config.extra_hosts:
            name, _, address_ = item.partition(":")
            if address_ == "host-gateway":  # Docker's name for the host, seen from its bridge
                address_ = self.networks.default().gateway
            extra.append((name, address_))
        if address:
            extra.append((hostname, address))
        (directory / "hostname").write_text(hostname + "\n")
        (directory / "hosts").write_text(etcfiles.hosts_file(extra, host_network))
        (directory / "resolv.conf").write_text(
            etcfiles.resolv_conf(host_network=host_network, dns=config.dns, dns_search=config.dns_search)
        )

    # -- start -------------------------------------------------------------------------

    def start(
        self, ref: str, *, hold_output: bool = False, tty_size: tuple[int, int] | None = None
    ) -> Container:
        record = self.records.resolve(ref)
        try:
            with self._ops_lock(record.id).exclusive():
                status = self.state(record.id)
                if status.supervised and status.running:
                    return Container(record, status)
                if status.running:
                    self._stop_unsupervised(record, status, signal.SIGKILL, 0)
                else:
                    self.settle(record.id, status)
                self._reset(record)
                self._start(record, hold_output, tty_size)
        except BaseException:
            # As Docker's daemon does: an auto-remove container whose start failed, however it
            # failed, is removed with its anonymous volumes (the start's error is what is reported).
            if record.config.auto_remove:
                with contextlib.suppress(Exception):
                    self.remove(record.id, force=True, volumes=True)
            raise
        return self.get(record.id)

    def _reset(self, record: ContainerRecord) -> None:
        """Clear what a killed monitor may have left: runtime state and the rootfs mount."""
        runtime = self.runtime_of(record)
        if (runtime.state_root / record.id).exists():  # the runtime still knows this container
            with contextlib.suppress(RuntimeFailure):
                runtime.delete(record.id, force=True)
        rootfs = self.rootfs(record.id)
        if is_mountpoint(rootfs):
            unmount(rootfs, lazy=True)

    def _mount_point(self, record: ContainerRecord, target: str) -> os.stat_result | None:
        """What is at ``target`` before it is mounted over (links followed inside the tree that
        holds it: the mount nearest above it, a bind's or volume's directory, or the rootfs);
        None when nothing is, or when it is in a tmpfs (which starts empty)."""
        target = "/" + "/".join(p for p in target.split("/") if p not in ("", "."))
        best: MountSpec | None = None
        for m in record.config.mounts:
            above = m.target.rstrip("/")
            if target.startswith(above + "/") and (best is None or len(above) > len(best.target.rstrip("/"))):
                best = m
        if best is None:
            base, rest = str(self.rootfs(record.id)), target
        elif best.type == BIND:
            base, rest = best.source, target[len(best.target.rstrip("/")) :]
        elif best.type == VOLUME:
            base, rest = str(self.volumes.data_dir(best.source)), target[len(best.target.rstrip("/")) :]
        else:
            return None
        try:
            with Root(base) as root:
                return root.stat(rest)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _prepare_binds(self, record: ContainerRecord) -> None:
        """Before anything is read through them: -v's missing sources made, and each bind's
        mount point checked against its source's kind (a file onto a file, a directory onto
        a directory), so the error names both rather than the runtime's "not a directory"."""
        for m in record.config.mounts:
            if m.type == BIND:
                binds.check_mount_point(m, binds.source_is_dir(m), self._mount_point(record, m.target))

    def _mount_specs(self, record: ContainerRecord) -> list[container_spec.HostMount]:
        mounts = []
        for m in record.config.mounts:
            if m.type == BIND:
                options = container_spec.bind_options(m.readonly, m.propagation)
                mounts.append(container_spec.HostMount("bind", m.source, m.target, options))
            elif m.type == VOLUME:
                options = container_spec.bind_options(m.readonly)
                source = str(self.volumes.data_dir(m.source))
                mounts.append(container_spec.HostMount("bind", source, m.target, options))
            elif m.type == TMPFS:
                # --tmpfs (propagation "flag") adds noexec, as Docker's does; --mount type=tmpfs does not.
                options = container_spec.tmpfs_options(
                    m.tmpfs_size,
                    m.tmpfs_mode,
                    m.propagation == "flag",
                    readonly=m.readonly,
                    extra=m.tmpfs_options,
                )
                mounts.append(container_spec.HostMount("tmpfs", "tmpfs", m.target, options))
        return mounts

    def _fill_new_volumes(self, record: ContainerRecord, files: ContainerFiles) -> None:
        """Docker's rule: an empty volume mounted where the image has files gets a copy of them
        (read inside the image's root, written through the volume's own descriptor)."""
        image_root = files.locate("/")[0]
        for m in record.config.mounts:
            if m.type != VOLUME or m.no_copy:
                continue
            with opened(os.open(self.volumes.data_dir(m.source), DIRECTORY_FLAGS)) as data:
                if os.listdir(data):
                    continue
                try:
                    source = image_root.open_dir(m.target)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                with opened(source):
                    if os.listdir(source):
                        from cove.archive.treetar import copy_tree  # tar code, only when needed

                        copy_tree(source, data, self.store.tmp_dir)

    def _init_binary(self) -> str | None:
        return next((p for p in INIT_BINARIES if os.path.exists(p) and is_static(Path(p))), None)

    def _start(self, record: ContainerRecord, hold_output: bool, tty_size: tuple[int, int] | None) -> None:
        cid = record.id
        config = record.config
        image = self.image_config(record)
        rootfs = self.rootfs(cid)
        rootfs.mkdir(parents=True, exist_ok=True)
        mount_all(self.store.snapshotter.mounts(record.snapshot_key), rootfs)
        try:
            self._prepare_binds(record)
            # The files are closed before the monitor starts: it is forked from here, and a
            # descriptor it held into the rootfs would keep the mount busy when it ends.
            with contextlib.closing(mapped_files(self, record, rootfs)) as files:
                self._fill_new_volumes(record, files)
                user = resolve_user(config.user if config.user is not None else image.get("User"), files)
                cwd = container_spec.working_dir(config, image)
                workdir, made = files.make_dirs(cwd)
                with opened(workdir):
                    if made:
                        os.fchown(workdir, user.uid, user.gid)
                info = self.runtime_of(record).info
                runtime_spec = container_spec.build(
                    container_id=cid,
                    config=config,
                    image=image,
                    rootfs=rootfs,
                    hostname=config.hostname or cid[:12],
                    user=user,
                    mounts=self._mount_specs(record),
                    etc_dir=self.dir(cid),
                    cgroup_version=cgroups.version(),
                    cpus_available=sysinfo.cpu_count(),
                    init_binary=self._init_binary() if config.init else None,
                    known_caps=capabilities.host_caps(),
                    netns_path=self._network_namespace(record),
                )
                args = runtime_spec["process"]["args"]
                if config.init:
                    args = args[2:]  # the program the init (tini) will run
                path_env = next((e[5:] for e in runtime_spec["process"]["env"] if e.startswith("PATH=")), "")

                from cove.containers.diagnose import preflight

                problem = preflight(files, args, path_env)
                if problem is not None:
                    raise ContainerStartError(problem.message, problem.exit_code)
            (self.dir(cid) / "bundle" / "config.json").write_text(json.dumps(runtime_spec))
            health = effective_health(config, image)
            socket_path = self.socket(cid)
            socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            monitor_config = MonitorConfig(
                id=cid,
                container_dir=str(self.dir(cid)),
                bundle=str(self.dir(cid) / "bundle"),
                rootfs=str(rootfs),
                runtime=info,
                runtime_root=str(self.run_dir / "runtime" / info.name),
                socket=str(socket_path),
                log=LogConfig(
                    str(self.log_path(cid)),
                    config.log_max_size or DEFAULT_LOG_MAX_SIZE,
                    config.log_max_files or DEFAULT_LOG_MAX_FILES,
                ),
                tty=config.tty,
                stdin=config.open_stdin,
                stdin_once=config.stdin_once,
                restart_policy=config.restart,
                restart_max_retries=config.restart_max_retries,
                stop_signal=container_spec.stop_signal(config, image),
                stop_timeout=config.stop_timeout if config.stop_timeout is not None else DEFAULT_STOP_TIMEOUT,
                cgroups_path=f"/cove/{cid}",
                health=ProbeConfig(**dataclasses.asdict(health)) if health else None,
                hold_output=hold_output,
                tty_size=requests.TtySize(*tty_size) if tty_size else None,
                auto_remove_argv=[sys.executable, "-m", "cove", "rm", "--force", "--volumes", cid]
                if config.auto_remove
                else None,
                # ... for this very store, whatever environment the monitor ends up with.
                auto_remove_env=self._store_env(),
                # Forked from this command, the monitor turns into a lean process of its own once the
                # container runs: at once when nobody waits on it, else after a short grace.
                shed_after=SHED_AFTER_ATTACHED if hold_output else 0.0,
            )
            ready = monitor.start_monitor(
                monitor_config, self.dir(cid) / "monitor.json", self.dir(cid) / "monitor.log"
            )
            if not ready.get("ok"):
                from cove.containers.diagnose import StartFailure, explain

                error = str(ready.get("error", ""))
                failure = StartFailure(125, error)
                try:
                    with contextlib.closing(mapped_files(self, record, rootfs)) as files:
                        failure = explain(error, files, args, path_env)
                finally:
                    # The monitor records it (it is the record's one writer), then leaves.
                    with contextlib.suppress(CoveError):
                        monitor.request(socket_path, requests.StartFailed(failure.message, failure.exit_code))
                raise ContainerStartError(failure.message, failure.exit_code)
        except BaseException:
            # The monitor unmounts what it runs; a start that failed leaves it to us.
            with contextlib.suppress(OSError, CoveError):
                if is_mountpoint(rootfs):
                    unmount(rootfs, lazy=True)
            raise

    def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool = True,
        stderr: bool = True,
        tty_size: tuple[int, int] | None = None,
        remove: bool = False,
    ) -> monitor.Attachment:
        record = self.records.resolve(ref)
        status = self.state(record.id)
        if not status.supervised:
            raise Conflict(
                f"you cannot attach to a stopped container, start it first ({record.name})",
                hint=f"cove start -a {record.name}",
            )
        return monitor.attach(
            self.socket(record.id),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            tty_size=tty_size,
            remove=remove,
        )

    # -- stop, kill, restart -----------------------------------------------------------------

    def _stop_timeout(self, record: ContainerRecord, timeout: int | None) -> int:
        if timeout is not None:
            return timeout
        return record.config.stop_timeout if record.config.stop_timeout is not None else DEFAULT_STOP_TIMEOUT

    def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> Container:
        record = self.records.resolve(ref)
        status = self.state(record.id)
        if not status.running:
            return Container(record, status)
        wait = self._stop_timeout(record, timeout)
        sig = (
            parse_signal(signal_name)
            if signal_name
            else container_spec.stop_signal(record.config, self.image_config(record))
        )
        if status.supervised:  # (the monitor thaws a paused container first)
            with contextlib.suppress(CoveError):  # the monitor may be gone already: then it is stopped
                monitor.request(self.socket(record.id), requests.Stop(signal=sig, grace=wait), timeout=None)
            self._wait_monitor(record.id)
        else:
            self._stop_unsupervised(record, status, sig, wait)
        return self.get(record.id)

    def settle(self, cid: str, status: ContainerState | None = None) -> None:
        """For a container that is not running: wait until its monitor, if it is still finishing
        (runtime state, rootfs mount), has let go of it."""
        status = status or self.state(cid)
        if status.supervised and not status.running:
            self._wait_monitor(cid)

    def _wait_monitor(self, cid: str, timeout: float = 60.0) -> None:
        """Until the container's monitor has finished and exited."""
        state = self.state(cid)
        pid = state.monitor_pid or state.last_monitor_pid
        if not pid:
            return
        if FileLock(self.dir(cid) / "monitor.lock").try_free():
            # Done with the container already (or a stale PID, now someone else's): only its
            # exit is left, which takes moments.
            timeout = min(timeout, 1.0)
        wait_exit(pid, timeout)

    def _stop_unsupervised(
        self, record: ContainerRecord, status: ContainerState, sig: int, wait: float
    ) -> None:
        """Stop a container whose monitor died: signal its init directly, then clean up. Its
        record stays as the dead monitor left it: the reader tells (as it did for the init that
        ended on its own) that it exited, with a status nobody saw; the next monitor writes it."""
        pid = status.pid
        if status.status == Status.PAUSED:
            with contextlib.suppress(RuntimeFailure):
                self.runtime_of(record).resume(record.id)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while alive(pid) and time.monotonic() < deadline + 10:
                    time.sleep(0.01)
        # Not our child: whoever reaped it (PID 1, a subreaper) has its status, and whether it
        # died of the signal or exited after trapping it is not for us to guess.
        self._reset(record)

    def kill(self, ref: str, signal_name: str = "SIGKILL") -> Container:
        record = self.records.resolve(ref)
        status = self.state(record.id)
        if not status.running:
            raise Conflict(f"cannot kill container: {ref}: container {record.id[:12]} is not running")
        sig = parse_signal(signal_name)
        if status.supervised:
            reply = monitor.request(self.socket(record.id), requests.Kill(signal=sig))
            if not reply.ok:
                raise Conflict(f"cannot kill container: {ref}: {reply.error}")
        elif status.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, sig)
        return Container(record, status)

    def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        self.stop(ref, timeout=timeout)
        return self.start(ref)

    def wait(self, ref: str, *, unsupervised: bool = True) -> int:
        """The container's exit code, once it is not running. Raises ExitStatusUnknown when its
        monitor died before recording it, or (``unsupervised`` False) when a container without a
        monitor still runs rather than waiting for an end whose code nobody will know."""
        record = self.records.resolve(ref)
        asked = False
        while True:
            status = self.state(record.id)
            if status.supervised and status.running and not asked:
                asked = True
                try:
                    reply = monitor.request(self.socket(record.id), requests.Wait(), timeout=None)
                except CoveError:  # the monitor finished as we asked, or died (look again)
                    self._wait_monitor(record.id)
                    continue
                if reply.exit_code is not None:
                    return reply.exit_code
                status = self.state(record.id)  # the monitor had none: its record
            elif status.running and not status.supervised:
                if not unsupervised:
                    raise ExitStatusUnknown(record.name, running=True)
                while status.pid and not wait_exit(status.pid, 3600.0):
                    pass
                continue
            break
        if status.running:
            raise Unavailable(
                f"the monitor of container {record.name} does not answer", hint=f"cove stop {record.name}"
            )
        if status.exit_code is None:
            raise ExitStatusUnknown(record.name)
        return status.exit_code

    # -- pause, rename, update -----------------------------------------------------------

    def pause(self, ref: str) -> None:
        record = self.records.resolve(ref)
        self.state(record.id).check_pause(record.id[:12])
        self._ask(record, requests.Pause())

    def unpause(self, ref: str) -> None:
        record = self.records.resolve(ref)
        self.state(record.id).check_unpause(record.id[:12])
        self._ask(record, requests.Unpause())

    def _ask(self, record: ContainerRecord, message: requests.Request) -> None:
        """A change of the container's state: its monitor makes it (and records it)."""
        if not self.state(record.id).supervised:
            raise Conflict(
                f"container {record.id[:12]} has no monitor (it died): stop or restart the container first"
            )
        reply = monitor.request(self.socket(record.id), message)
        if not reply.ok:
            raise Conflict(reply.error or f"container {record.id[:12]}: {message.op.value} failed")

    def rename(self, ref: str, new_name: str) -> None:
        record = self.records.resolve(ref)
        name = check_name(new_name)
        if name == record.name:
            raise InvalidArgument("renaming a container with the same name as its current name")
        self.records.rename(record.id, name)
        if self.networks.records.endpoints(container_id=record.id):
            self.networks.publish_names()  # the new name resolves, the old one no more

    # -- remove and prune --------------------------------------------------------------------

    def ports(self, ref: str) -> list[Binding]:
        """The published ports of a running container (none once it stopped, as with Docker)."""
        record = self.records.resolve(ref)
        if not self.state(record.id).running:
            return []
        return self.networks.bindings(record.id)

    def connect(
        self, network: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None
    ) -> None:
        """Put a container on one more network; a running one gets its link at once."""
        record = self.records.resolve(ref)
        if record.config.network in ("host", "none", "private") or record.config.network.startswith(
            "container:"
        ):
            raise FailedPrecondition(
                f"container {record.name} uses network mode {record.config.network}: "
                "it cannot be connected to other networks"
            )
        with self._ops_lock(record.id).exclusive():
            running = self.state(record.id).running
            self.networks.connect(network, record.id, aliases=aliases or [], ip=ip, running=running)

    def disconnect(self, network: str, ref: str) -> None:
        record = self.records.resolve(ref)
        with self._ops_lock(record.id).exclusive():
            running = self.state(record.id).running
            self.networks.disconnect(network, record.id, running=running)

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> str:
        record = self.records.resolve(ref)
        cid = record.id
        status = self.state(cid)
        if status.running:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{record.name}": container is running: '
                    "stop the container before removing or force remove",
                    hint=f"cove rm -f {record.name}",
                )
            self.stop(cid, timeout=0, signal_name="SIGKILL")
        with self._ops_lock(cid).exclusive():
            self._wait_monitor(cid)
            self._reset(record)
            anonymous = [
                name
                for name, _ in self.volumes.of_container(cid)
                if (v := self.volumes.find(name)) and v.anonymous
            ]
            if self.networks.records.endpoints(container_id=cid):
                self.networks.unwire(cid, forget=True)
            self.records.delete(cid)
            with contextlib.suppress(CoveError):
                self.store.snapshotter.remove(record.snapshot_key)
            self.socket(cid).unlink(missing_ok=True)
        trash = self.containers_dir / f".trash-{cid}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.dir(cid), trash)
        remove_quietly(trash)  # what cannot go now, the store's cleanup retries and reports
        if volumes:
            for name in anonymous:
                with contextlib.suppress(CoveError):
                    self.volumes.remove(name)
        return cid

    def prune(self) -> tuple[list[str], int]:
        from cove.snapshots.usage import disk_usage

        removed = []
        freed = 0
        for container in self.all():
            if container.status.running:
                continue
            freed += disk_usage(
                self.store.snapshotter.dir(self.store.snapshotter.require(container.record.snapshot_key).id)
            )[0]
            self.remove(container.record.id)
            removed.append(container.record.id)
        return removed, freed


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
        labels = record.config.labels
        return all(
            (k in labels and (not eq or labels[k] == v)) for k, eq, v in (x.partition("=") for x in values)
        )
    if key == "ancestor":
        return record.image_id in ancestors
    if key == "health":
        health = status.health.status.value if status.health else "none"
        return health in values
    if key == EXITED_FILTER:
        return status.status == Status.EXITED and str(status.reported_exit_code) in values
    return True


def filter_containers(
    service: ContainerService, containers: list[Container], filters: dict[str, list[str]]
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

"""Starting a container: its rootfs mounted, binds checked, volumes filled, the runtime's
bundle written, its network namespace joined or wired, and its monitor launched; attaching."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from cove.containers import binds
from cove.containers import spec as container_spec
from cove.containers.model import BIND, TMPFS, VOLUME, MountSpec, NetworkKind
from cove.containers.store import ContainerRecord
from cove.containers.users import resolve_user
from cove.engine.container_files import ContainerFiles, mapped_files
from cove.engine.containers.health import effective_health
from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.lifecycle import DEFAULT_STOP_TIMEOUT, Lifecycle
from cove.engine.containers.model import Container, ContainerStartError
from cove.errors import Conflict, CoveError, FailedPrecondition
from cove.host.elf import is_static
from cove.host.inroot import DIRECTORY_FLAGS, Root, opened
from cove.monitor import client as monitor
from cove.monitor import protocol as requests
from cove.monitor.config import LogConfig, MonitorConfig, ProbeConfig

# Logs rotate by default, like Docker's "local" driver: 5 files of 20 MiB.
DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_LOG_MAX_FILES = 5
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")
SHED_AFTER_ATTACHED = 2.0


class Starter:
    def __init__(
        self, layout: ContainerLayout, lifecycle: Lifecycle, remove: Callable[[str], object]
    ) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes
        self.host = layout.host
        self.lifecycle = lifecycle
        # An auto-remove container whose start failed is removed (force, volumes too).
        self._remove = remove

    def start(
        self, ref: str, *, hold_output: bool = False, tty_size: tuple[int, int] | None = None
    ) -> Container:
        record = self.records.resolve(ref)
        try:
            with self.layout.ops_lock(record.id).exclusive():
                status = self.layout.state(record.id)
                if status.supervised and status.running:
                    return Container(record, status)
                if status.running:
                    self.lifecycle.stop_unsupervised(record, status, signal.SIGKILL, 0)
                else:
                    self.lifecycle.settle(record.id, status)
                self.lifecycle.reset(record)
                self._start(record, hold_output, tty_size)
        except BaseException:
            # As Docker's daemon does: an auto-remove container whose start failed, however it
            # failed, is removed with its anonymous volumes (the start's error is what is reported).
            if record.config.auto_remove:
                with contextlib.suppress(Exception):
                    self._remove(record.id)
            raise
        return self.layout.get(record.id)

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
            base, rest = str(self.layout.rootfs(record.id)), target
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
        image = self.layout.required_image_config(record)
        rootfs = self.layout.rootfs(cid)
        rootfs.mkdir(parents=True, exist_ok=True)
        self.host.mount_all(self.store.snapshotter.mounts(record.snapshot_key), rootfs)
        try:
            self._prepare_binds(record)
            # The files are closed before the monitor starts: it is forked from here, and a
            # descriptor it held into the rootfs would keep the mount busy when it ends.
            with contextlib.closing(mapped_files(self.volumes, record, rootfs)) as files:
                self._fill_new_volumes(record, files)
                user = resolve_user(config.user if config.user is not None else image.get("User"), files)
                cwd = container_spec.working_dir(config, image)
                workdir, made = files.make_dirs(cwd)
                with opened(workdir):
                    if made:
                        os.fchown(workdir, user.uid, user.gid)
                info = self.layout.runtime_of(record).info
                runtime_spec = container_spec.build(
                    container_id=cid,
                    config=config,
                    image=image,
                    rootfs=rootfs,
                    hostname=config.hostname or cid[:12],
                    user=user,
                    mounts=self._mount_specs(record),
                    etc_dir=self.layout.dir(cid),
                    cgroup_version=self.host.cgroup_version(),
                    cpus_available=self.host.cpu_count(),
                    init_binary=self._init_binary() if config.init else None,
                    known_caps=self.layout.known_caps(),
                    netns_path=self._network_namespace(record),
                    hard_limit=self.host.hard_rlimit,
                )
                args = runtime_spec["process"]["args"]
                if config.init:
                    args = args[2:]  # the program the init (tini) will run
                path_env = next((e[5:] for e in runtime_spec["process"]["env"] if e.startswith("PATH=")), "")

                from cove.containers.diagnose import preflight

                problem = preflight(files, args, path_env)
                if problem is not None:
                    raise ContainerStartError(problem.message, problem.exit_code)
            (self.layout.dir(cid) / "bundle" / "config.json").write_text(json.dumps(runtime_spec))
            health = effective_health(config, image)
            socket_path = self.layout.socket(cid)
            socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            monitor_config = MonitorConfig(
                id=cid,
                container_dir=str(self.layout.dir(cid)),
                bundle=str(self.layout.dir(cid) / "bundle"),
                rootfs=str(rootfs),
                runtime=info,
                runtime_root=str(self.layout.run_dir / "runtime" / info.name),
                socket=str(socket_path),
                log=LogConfig(
                    str(self.layout.log_path(cid)),
                    config.log_max_size or DEFAULT_LOG_MAX_SIZE,
                    config.log_max_files or DEFAULT_LOG_MAX_FILES,
                ),
                tty=config.tty,
                stdin=config.open_stdin,
                stdin_once=config.stdin_once,
                restart=config.restart,
                stop_signal=container_spec.stop_signal(config, image),
                stop_timeout=config.stop_timeout if config.stop_timeout is not None else DEFAULT_STOP_TIMEOUT,
                cgroups_path=f"/cove/{cid}",
                health=ProbeConfig(**dataclasses.asdict(health)) if health else None,
                hold_output=hold_output,
                tty_size=requests.TtySize(*tty_size) if tty_size else None,
                auto_remove_argv=[sys.executable, "-m", "cove", "rm", "--force", "--volumes", cid]
                if config.auto_remove
                else None,
                # ... for this very store, whatever environment the monitor ends up with; a
                # one-shot removal starts no command server (it would idle 15 minutes for nobody).
                auto_remove_env={**self.layout.store_env(), "COVE_COMMAND_SERVER": "0"},
                # Forked from this command, the monitor turns into a lean process of its own once the
                # container runs: at once when nobody waits on it, else after a short grace.
                shed_after=SHED_AFTER_ATTACHED if hold_output else 0.0,
            )
            ready = self.layout.monitors.start(
                monitor_config, self.layout.dir(cid) / "monitor.json", self.layout.dir(cid) / "monitor.log"
            )
            if not ready.get("ok"):
                from cove.containers.diagnose import StartFailure, explain

                error = str(ready.get("error", ""))
                failure = StartFailure(125, error)
                try:
                    with contextlib.closing(mapped_files(self.volumes, record, rootfs)) as files:
                        failure = explain(error, files, args, path_env)
                finally:
                    # The monitor records it (it is the record's one writer), then leaves.
                    with contextlib.suppress(CoveError):
                        told = requests.StartFailed(failure.message, failure.exit_code)
                        self.layout.monitors.request(socket_path, told)
                raise ContainerStartError(failure.message, failure.exit_code)
        except BaseException:
            # The monitor unmounts what it runs; a start that failed leaves it to us.
            with contextlib.suppress(OSError, CoveError):
                if self.host.is_mountpoint(rootfs):
                    self.host.unmount(rootfs, lazy=True)
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
        status = self.layout.state(record.id)
        if not status.supervised:
            raise Conflict(
                f"you cannot attach to a stopped container, start it first ({record.name})",
                hint=f"cove start -a {record.name}",
            )
        return monitor.attach(
            self.layout.socket(record.id),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            tty_size=tty_size,
            remove=remove,
        )

    def _network_namespace(self, record: ContainerRecord) -> str | None:
        """The network namespace the container joins at start (None: a new one, or the host's)."""
        mode = record.config.network
        if mode.kind in (NetworkKind.HOST, NetworkKind.NONE):
            return None
        if mode.kind is NetworkKind.CONTAINER:
            other = self.records.resolve(mode.name)
            name = self.layout.networks.netns_name(other.id)
            status = self.layout.state(other.id)
            if not status.running:
                raise FailedPrecondition(
                    f"cannot join network namespace of a non running container: {other.name}"
                )
            if self.host.netns_exists(name):
                return str(self.host.netns_path(name))
            return str(self.host.proc_path(f"{status.pid}/ns/net"))
        from cove.engine.networks import PortSpec
        from cove.network.ports import parse_expose

        specs = list(record.config.publish)
        if record.config.publish_all:
            image = self.layout.required_image_config(record)
            exposed = [*(image.get("ExposedPorts") or {}), *record.config.expose]
            published = {(s.container_port, s.protocol) for s in specs}
            for text in exposed:
                for port, protocol in parse_expose(text):
                    if (port, protocol) not in published:
                        specs.append(PortSpec(port, protocol))
                        published.add((port, protocol))
        self.layout.networks.bind_ports(record.id, specs)
        netns = self.layout.networks.wire(record.id)
        return str(netns) if netns is not None else None

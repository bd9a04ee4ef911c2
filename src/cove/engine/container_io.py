"""Looking into and copying out of containers: logs, exec, top, stats, diff, commit, cp, export."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import posixpath
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.archive.treetar import TreeTar
from cove.build.changes import apply_changes
from cove.containers.diagnose import StartFailure, explain, preflight
from cove.containers.model import Resources
from cove.containers.spec import command
from cove.containers.spec import resources as spec_resources
from cove.containers.state import Status
from cove.containers.store import ContainerRecord
from cove.containers.users import resolve_user
from cove.engine.container_files import ContainerFiles, container_files, paused, stopped_view
from cove.engine.containers import Container, ContainerService, ContainerStartError
from cove.errors import Conflict, CoveError, InvalidArgument, NotFound
from cove.host import process
from cove.host.inroot import MAX_SYMLINKS, opened
from cove.host.sysinfo import total_memory
from cove.images import diff as snapshot_diff
from cove.images.diff import Change
from cove.images.importer import now_rfc3339, store_unpacked
from cove.logs import jsonfile
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, ImageConfig
from cove.oci.reference import parse_reference
from cove.runtime import caps as capabilities
from cove.runtime.oci import error_from_log

RUNTIME_FAILED = 255  # what the runtime exits with when it could not start the process


@dataclass(frozen=True)
class Stats:
    id: str
    name: str
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


class ExecSession:
    """A process started with ``runc exec`` in the foreground: wait for its exit code."""

    def __init__(
        self, pid: int, process_file: Path, log: Path, explain: Callable[[str], StartFailure]
    ) -> None:
        self.pid = pid
        self._process_file = process_file
        self._log = log
        self._explain = explain

    def wait(self) -> int:
        """The process's exit code; a runtime failure to start it raises, with Docker's 126/127."""
        _, status = os.waitpid(self.pid, 0)
        code = process.exit_code(status)
        error = error_from_log(self._log) if code == RUNTIME_FAILED and self._log.exists() else ""
        self._process_file.unlink(missing_ok=True)
        self._log.unlink(missing_ok=True)
        if error:
            failure = self._explain(error)
            raise ContainerStartError(failure.message, failure.exit_code)
        return code


class ContainerIO:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    # -- logs ------------------------------------------------------------------------------

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[jsonfile.LogEntry]:
        record = self.c.records.resolve(ref)
        path = self.c.log_path(record.id)
        end = jsonfile.end_of(path)
        yield from jsonfile.read(path, tail=tail, since=since, until=until, end=end)
        if not follow:
            return

        def running() -> bool:
            status = self.c.state(record.id)
            return status.supervised

        for entry in jsonfile.follow(path, running, start=end):
            if until is not None and jsonfile.parse_time(entry.time) > until:
                return
            yield entry

    # -- exec ------------------------------------------------------------------------------

    def exec(
        self,
        ref: str,
        argv: list[str],
        *,
        tty: bool = False,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        detach: bool = False,
        stdin: int | None = None,
        stdout: int = 1,
        stderr: int = 2,
    ) -> ExecSession | None:
        """Run ``argv`` in a running container; None for --detach, else a session to wait on."""
        container = self.c.get(ref)
        record, status = container.record, container.status
        if status.status == Status.PAUSED:
            raise Conflict(f"container {record.id[:12]} is paused, unpause the container before exec")
        if not status.running:
            raise Conflict(f"container {record.id[:12]} is not running")
        if not argv:
            raise InvalidArgument("exec needs a command")
        directory = self.c.dir(record.id)
        spec = json.loads((directory / "bundle" / "config.json").read_text())
        proc: dict[str, Any] = spec["process"]
        proc["args"] = argv
        tty = tty and not detach  # a detached process has nobody to hand a terminal to
        proc["terminal"] = tty
        merged = {e.partition("=")[0]: e for e in proc.get("env", [])}
        for item in env or []:
            merged[item.partition("=")[0]] = item
        if tty:
            merged.setdefault("TERM", "TERM=xterm")
        proc["env"] = list(merged.values())
        if workdir:
            proc["cwd"] = workdir
        if privileged:
            every = list(capabilities.host_caps())
            proc["capabilities"] = {"bounding": every, "effective": every, "permitted": every}
        path_env = next((e[5:] for e in proc["env"] if e.startswith("PATH=")), "")
        # The container runs, so its files are seen here as it sees them (mounts included): the
        # user is looked up, and the program checked before the runtime does, for a message
        # that names the cause.
        with container_files(self.c, record, status) as files:
            if user is not None:
                resolved = resolve_user(user, files)
                proc["user"] = {"uid": resolved.uid, "gid": resolved.gid}
                if resolved.additional_gids:
                    proc["user"]["additionalGids"] = list(resolved.additional_gids)
            problem = preflight(files, argv, path_env, missing_is_error=True)
        if problem is not None:
            raise ContainerStartError(problem.message, problem.exit_code)
        token = secrets.token_hex(6)
        process_file = directory / f"exec-{token}.json"
        process_file.write_text(json.dumps(proc))
        log = directory / f"exec-{token}.log"
        runtime = self.c.runtime_of(record)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            if detach:
                argv_ = runtime.exec_argv(record.id, process_file, detach=True)
                pid = process.spawn(argv_, stdin=devnull, stdout=devnull, stderr=devnull)
                _, code = os.waitpid(pid, 0)
                process_file.unlink(missing_ok=True)
                if process.exit_code(code) != 0:
                    raise Conflict(f"exec failed in container {record.id[:12]}")
                return None
            # With a terminal, the runtime itself allocates the pty and copies between it and our
            # stdio (raw mode and window size included), so it runs in the foreground either way.
            argv_ = runtime.exec_argv(record.id, process_file, tty=tty, log=log)
            pid = process.spawn(
                argv_, stdin=devnull if stdin is None else stdin, stdout=stdout, stderr=stderr
            )

            def explain_failure(message: str) -> StartFailure:
                with container_files(self.c, record, self.c.state(record.id)) as files:
                    return explain(message, files, argv, path_env)

            return ExecSession(pid, process_file, log, explain_failure)
        finally:
            os.close(devnull)

    # -- top and stats ---------------------------------------------------------------------

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        container = self.c.get(ref)
        if not container.status.running:
            raise Conflict(f"container {container.record.id[:12]} is not running")
        pids = set(self.c.runtime_of(container.record).pids(container.record.id))
        args = ps_args or ["-ef"]
        out = self.store.runner.run(["ps", *args]).stdout.decode(errors="replace").splitlines()
        if not out:
            return [], []
        titles = out[0].split()
        if "PID" not in titles:
            raise InvalidArgument(f"couldn't find PID field in ps output (ps {' '.join(args)})")
        column = titles.index("PID")
        rows = []
        for line in out[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
                rows.append(fields)
        return titles, rows

    def _sample(self, record: ContainerRecord) -> dict[str, Any]:
        return self.c.runtime_of(record).stats(record.id)

    def stats(self, refs: list[str] | None = None) -> list[Stats]:
        """One reading for each running container (CPU over half a second, as `docker stats`)."""
        containers = [self.c.get(r) for r in refs] if refs else self.c.list_containers()
        running = [c for c in containers if c.status.running]
        first = {c.record.id: (self._sample_safe(c.record), _system_cpu_ns()) for c in running}
        time.sleep(0.5)
        out = []
        cpus = os.cpu_count() or 1
        for c in running:
            data = self._sample_safe(c.record)
            before, system_before = first[c.record.id]
            cpu_delta = _cpu_total(data) - _cpu_total(before)
            system_delta = _system_cpu_ns() - system_before
            percent = (cpu_delta / system_delta) * cpus * 100.0 if system_delta > 0 and cpu_delta > 0 else 0.0
            memory = data.get("memory", {})
            usage = int(memory.get("usage", {}).get("usage", 0))
            stats = memory.get("stats", {}) or {}
            usage -= int(stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0)
            limit = int(memory.get("usage", {}).get("limit", 0))
            total = total_memory()
            if not limit or limit > total:
                limit = total
            read = write = 0
            for entry in data.get("blkio", {}).get("ioServiceBytesRecursive") or []:
                if entry.get("op", "").lower() == "read":
                    read += int(entry.get("value", 0))
                elif entry.get("op", "").lower() == "write":
                    write += int(entry.get("value", 0))
            rx, tx = _net_bytes(c.status.pid)
            out.append(
                Stats(
                    c.record.id,
                    c.record.name,
                    percent,
                    max(0, usage),
                    limit,
                    rx,
                    tx,
                    read,
                    write,
                    int(data.get("pids", {}).get("current", 0)),
                )
            )
        return out

    def _sample_safe(self, record: ContainerRecord) -> dict[str, Any]:
        try:
            return self._sample(record)
        except CoveError:
            return {}

    # -- diff, commit, export --------------------------------------------------------------

    def _mount_points(self, record: ContainerRecord) -> set[str]:
        """Paths the runtime creates in the container's layer only to mount something there."""
        spec_path = self.c.dir(record.id) / "bundle" / "config.json"
        points = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}
        with contextlib.suppress(OSError, ValueError):
            for mount in json.loads(spec_path.read_text())["mounts"]:
                points.add(mount["destination"].strip("/"))
        return points

    def diff(self, ref: str) -> list[Change]:
        record = self.c.records.resolve(ref)
        return snapshot_diff.changes(self.store.snapshotter, record.snapshot_key, self._mount_points(record))

    def commit(
        self,
        ref: str,
        reference: str | None = None,
        *,
        changes: list[str] | None = None,
        message: str = "",
        author: str = "",
        pause: bool = True,
    ) -> Digest:
        container = self.c.get(ref)
        record = container.record
        paused_here = False
        if pause and container.status.status == Status.RUNNING:
            with contextlib.suppress(CoveError):
                self.c.pause(record.id)
                paused_here = True
        try:
            with self.store.writing():
                return self._commit(record, reference, changes or [], message, author)
        finally:
            if paused_here:
                with contextlib.suppress(CoveError):
                    self.c.unpause(record.id)

    def _layer_tar(self, record: ContainerRecord, out: BinaryIO) -> None:
        snapshot_diff.write_layer(
            self.store.snapshotter, record.snapshot_key, out, self._mount_points(record)
        )

    def _commit(
        self, record: ContainerRecord, reference: str | None, changes: list[str], message: str, author: str
    ) -> Digest:
        content = self.store.content
        images = self.store.images
        try:
            base = images.get(record.image_id)
        except CoveError:
            raise Conflict(
                f"the image of container {record.name} was removed, so it cannot be committed"
            ) from None
        base_config = images.config(base)
        base_manifest = images.manifest(base)
        self.store.tmp_dir.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            self._layer_tar(record, spool)
            spool.seek(0)
            with content.writer() as writer:
                while chunk := spool.read(1 << 20):
                    writer.write(chunk)
                blob = writer.commit(what="layer")  # a plain tar: its digest is its diffID
        image_defaults = dict(base_config.config)
        container_config = apply_changes(self._committed_config(record, image_defaults), changes)
        created = now_rfc3339()
        raw = dict(base_config.raw)
        raw["created"] = created
        raw["config"] = container_config
        raw["rootfs"] = {"type": "layers", "diff_ids": [*map(str, base_config.diff_ids), str(blob)]}
        entry: dict[str, Any] = {
            "created": created,
            "created_by": " ".join(self._command(record, image_defaults)),
        }
        if message:
            entry["comment"] = message
        if author:
            entry["author"] = author
            raw["author"] = author
        raw["history"] = [*base_config.history, entry]
        config = ImageConfig(raw)
        layers = [*base_manifest.layers, Descriptor(mt.OCI_LAYER, blob, writer.size)]
        tags = [parse_reference(reference)] if reference else []
        return store_unpacked(content, images, self.store.unpacker, config, layers, tags=tags).id

    @staticmethod
    def _command(record: ContainerRecord, image: dict[str, Any]) -> list[str]:
        try:
            return command(record.config, image)
        except CoveError:
            return []

    @staticmethod
    def _committed_config(record: ContainerRecord, image: dict[str, Any]) -> dict[str, Any]:
        config = dict(image)
        c = record.config
        env: dict[str, str] = {}
        for item in list(image.get("Env") or []) + list(c.env):
            key, _, value = item.partition("=")
            env[key] = value
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
        if c.entrypoint is not None:
            config["Entrypoint"] = c.entrypoint or None
            config["Cmd"] = c.cmd
        elif c.cmd is not None:
            config["Cmd"] = c.cmd
        if c.workdir:
            config["WorkingDir"] = c.workdir
        if c.user is not None:
            config["User"] = c.user
        if c.labels:
            config["Labels"] = {**(image.get("Labels") or {}), **c.labels}
        return config

    def export(self, ref: str, out: BinaryIO) -> None:
        record = self.c.records.resolve(ref)
        points = self._mount_points(record)
        with stopped_view(self.c, record) as root:
            tar = TreeTar(out)
            tar.add_tree(
                str(root), skip=lambda rel: rel in points and rel.startswith(("proc", "sys", "dev/"))
            )
            tar.close()

    # -- cp --------------------------------------------------------------------------------
    # The container is paused meanwhile (if it runs), and every path in it is resolved and
    # opened inside it (engine.container_files): nothing it does can lead cp to the host.

    @contextlib.contextmanager
    def _files(self, ref: str) -> Iterator[ContainerFiles]:
        container = self.c.get(ref)
        with paused(self.c, container.record, container.status):
            status = self.c.state(container.record.id)
            with container_files(self.c, container.record, status) as files:
                yield files

    def copy_from(
        self, ref: str, path: str, out: BinaryIO, name: str | None = None, *, follow: bool = False
    ) -> None:
        """A tar of ``path`` in the container named ``name`` (default: its basename): `cp CTR:path -`.
        A final link is archived as a link, unless ``follow`` (``cp -L``)."""
        if name is None:
            name = "." if path.endswith("/.") else (os.path.basename(path.rstrip("/")) or ".")
        with self._files(ref) as files:
            parent, entry = _entry_of(files, path, follow=follow, ref=ref)
            try:
                tar = TreeTar(out)
                if name == ".":
                    tar.add_tree(_open_dir_at(parent, entry, path, ref))
                else:
                    st = tar.add_at(parent, entry, name)
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        with opened(_open_dir_at(parent, entry, path, ref)) as directory:
                            tar.add_tree(directory, name)
                tar.close()
            finally:
                os.close(parent)

    def copy_out(self, ref: str, path: str, dest: Path, *, follow: bool = False) -> None:
        """`cove cp CTR:path DEST`: Docker's rules for what DEST names."""
        directory, name = _split_cp_name(dest.is_dir(), path, str(dest))
        if name == ".":  # the contents of a directory, into DEST (made if missing)
            Path(directory).mkdir(parents=True, exist_ok=True)
        if not Path(directory).is_dir():
            raise NotFound(f"destination directory {directory} does not exist")
        self.store.tmp_dir.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            self.copy_from(ref, path, spool, name, follow=follow)
            spool.seek(0)
            apply_layer(
                TarReader(ChunkReader(iter(lambda: spool.read(1 << 20), b""))),
                Path(directory),
                WhiteoutMode.APPLY,
            )

    def copy_in(self, ref: str, source: Path, path: str) -> None:
        """`cove cp SRC CTR:path`: Docker's rules for what the container path names."""
        if not os.path.lexists(source):
            raise NotFound(f"no such file or directory: {source}")
        self.store.tmp_dir.mkdir(exist_ok=True)
        src = str(source) + ("/." if str(source).endswith("/.") else "")
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool, self._files(ref) as files:
            found = files.stat(path)
            directory, name = _split_cp_name(found is not None and stat.S_ISDIR(found.st_mode), src, path)
            _tar_item(spool, str(source).removesuffix("/."), name)
            spool.seek(0)
            self._unpack_into(files, ref, directory, spool)

    def copy_to(self, ref: str, path: str, archive: BinaryIO) -> None:
        """Unpack a tar stream into directory ``path`` of the container (owners and modes kept)."""
        with self._files(ref) as files:
            self._unpack_into(files, ref, path, archive)

    @staticmethod
    def _unpack_into(files: ContainerFiles, ref: str, path: str, archive: BinaryIO) -> None:
        try:
            target = files.open_dir(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the directory {path} in container {ref}") from None
        with opened(target):
            apply_layer(
                TarReader(ChunkReader(iter(lambda: archive.read(1 << 20), b""))), target, WhiteoutMode.APPLY
            )

    # -- update ----------------------------------------------------------------------------

    def update(self, ref: str, *, resources: dict[str, Any], restart: str | None = None) -> Container:
        container = self.c.get(ref)
        record = container.record
        current = dataclasses.asdict(record.config.resources)
        current.update({k: v for k, v in resources.items() if v is not None})
        config = dataclasses.replace(record.config, resources=Resources(**current))
        if restart is not None:
            name, _, count = restart.partition(":")
            config = dataclasses.replace(config, restart=name, restart_max_retries=int(count or 0))
        oci_resources = spec_resources(config, os.cpu_count() or 1).to_spec()
        # Lifting a limit must be said to the runtime (an absent field leaves the old one in place).
        if resources.get("pids_limit") is not None and resources["pids_limit"] <= 0:
            oci_resources["pids"] = {"limit": -1}
        if resources.get("cpus") == 0:
            oci_resources.setdefault("cpu", {}).update(quota=-1, period=100_000)
        if container.status.running:
            resources_file = self.c.dir(record.id) / "update.json"
            resources_file.write_text(json.dumps(oci_resources))
            try:
                self.c.runtime_of(record).update(record.id, resources_file)
            finally:
                resources_file.unlink(missing_ok=True)
        self.c.records.update_config(record.id, config)
        return self.c.get(record.id)


def _cpu_total(data: dict[str, Any]) -> int:
    return int(data.get("cpu", {}).get("usage", {}).get("total", 0) or 0)


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = sum(int(x) for x in fields)
    return int(ticks * 1e9 / os.sysconf("SC_CLK_TCK"))


def _net_bytes(pid: int) -> tuple[int, int]:
    rx = tx = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, data = line.partition(":")
            if name.strip() == "lo":
                continue
            fields = data.split()
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def _tar_item(out: BinaryIO, source: str, name: str) -> None:
    """A tar of the host's ``source`` (the user's own file or directory) named ``name``."""
    tar = TreeTar(out)
    if name == ".":
        tar.add_tree(source)
    else:
        tar.add(source, name)
        if os.path.isdir(source) and not os.path.islink(source):
            tar.add_tree(source, name)
    tar.close()


def _entry_of(files: ContainerFiles, path: str, *, follow: bool, ref: str) -> tuple[int, str]:
    """(descriptor of the directory holding ``path``'s last component, that component): the
    component itself is not followed, unless ``follow``, where each link leads to another
    path in the container, resolved in it again."""
    for _ in range(MAX_SYMLINKS + 1):
        try:
            parent, entry = files.parent(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {path} in container {ref}") from None
        try:
            st = os.stat(entry, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            os.close(parent)
            raise NotFound(f"Could not find the file {path} in container {ref}") from None
        if not (follow and stat.S_ISLNK(st.st_mode)):
            return parent, entry
        target = os.readlink(entry, dir_fd=parent)
        os.close(parent)
        path = (
            target
            if target.startswith("/")
            else posixpath.join(posixpath.dirname(path.rstrip("/")) or "/", target)
        )
    raise InvalidArgument(f"too many levels of symbolic links in {path}")


def _open_dir_at(parent: int, entry: str, path: str, ref: str) -> int:
    try:
        return os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        raise NotFound(f"{path} in container {ref} is not a directory (any more)") from None


def _split_cp_name(dest_exists_as_dir: bool, src_path: str, dest_path: str) -> tuple[str, str]:
    """Docker's naming for cp: (directory to unpack into, name of the copied item there)."""
    if src_path.endswith("/.") or src_path == ".":
        return dest_path, "."
    base = os.path.basename(src_path.rstrip("/")) or "."
    if dest_exists_as_dir:
        return dest_path, base
    if dest_path.endswith("/"):
        raise NotFound(f"destination directory {dest_path} does not exist")
    return os.path.dirname(dest_path.rstrip("/")) or "/", os.path.basename(dest_path.rstrip("/"))

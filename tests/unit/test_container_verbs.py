"""Container create, start, stop, kill and remove, without root or a runtime: the engine is
assembled with a recording host (no mounts, no signals), a recording runner in the runtime's
place, and a stand-in for the monitors; the store (database, content, copy snapshots, volumes)
is real, in tmp_path. The tests check what the engine asks of the host, the runtime and the
monitor, and what it records."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.config import EngineConfig
from cove.containers.model import VOLUME, ContainerConfig, MountSpec, NetworkMode, Resources, Ulimit
from cove.containers.state import MONITOR_LOST, Status, read_record, write_record
from cove.db.database import Database
from cove.engine.bootstrap import Engine, assemble
from cove.engine.containers import ContainerStartError
from cove.errors import Conflict, InvalidArgument, NotFound
from cove.host import process
from cove.host.runner import SubprocessRunner
from cove.runtime import caps
from cove.snapshots.snapshotter import COPY
from tests.helpers.fakehost import FakeProcess, RecordingHost, RecordingRunner
from tests.helpers.fakemonitor import FakeMonitors


@dataclass
class Rig:
    engine: Engine
    host: RecordingHost
    runner: RecordingRunner
    monitors: FakeMonitors
    runtime: Path  # the runtime's "binary" (never run)

    def calls(self, name: str) -> list[tuple[object, ...]]:
        return [c for c in self.host.calls if c[0] == name]

    def runtime_commands(self, cid: str) -> list[tuple[str, ...]]:
        """What the runtime was told about container ``cid``."""
        return [c for c in self.runner.commands if c[0] == str(self.runtime) and c[-1] == cid]


def _image_tar(path: Path) -> None:
    """A one-layer image: a file under /data (which the image declares a volume)."""
    with tarfile.open(path, "w") as tar:
        for name in ("bin", "data"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        body = b"seeded by the image\n"
        info = tarfile.TarInfo("data/seed")
        info.size, info.mode = len(body), 0o644
        tar.addfile(info, io.BytesIO(body))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    runtime = tmp_path / "runc"
    runtime.write_text("")  # found and its mtime cached; the recording runner stands in for it
    config = EngineConfig(
        root=tmp_path / "root", runtime_dir=tmp_path / "run", storage_driver=COPY, runtime=str(runtime)
    )
    config.root.mkdir()
    db = Database(config.root / "cove.db")
    host = RecordingHost(proc_dir=tmp_path / "proc")
    runner = RecordingRunner(results={(str(runtime), "--version"): (0, b"runc version 1.1.12\n", b"")})
    monitors = FakeMonitors(host)
    engine = assemble(
        config,
        db,
        driver=COPY,
        runner=runner,
        host=host,
        snapshot_runner=SubprocessRunner(),  # the copy snapshotter's `cp -a`, in tmp_path
        monitors=monitors,
    )
    _image_tar(tmp_path / "image.tar")
    engine.images.import_(
        str(tmp_path / "image.tar"),
        "app:1",
        changes=['CMD ["/bin/app", "serve"]', "STOPSIGNAL SIGINT", "VOLUME /data"],
    )
    try:
        yield Rig(engine, host, runner, monitors, runtime)
    finally:
        monitors.close()
        engine.close()


def _create(rig: Rig, name_: str = "web", **options: object) -> str:
    return rig.engine.containers.create(ContainerConfig(image="app:1", **options), name_).id  # type: ignore[arg-type]


# -- create ------------------------------------------------------------------------------------


def test_create_records_the_container_with_its_snapshot_files_and_volume(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    record = containers.records.get(cid)
    assert record.name == "web" and record.config.hostname == cid[:12]
    assert json.loads(record.runtime)["path"] == str(rig.runtime)
    assert rig.engine.store.snapshotter.get(record.snapshot_key) is not None
    directory = containers.dir(cid)
    assert (directory / "hostname").read_text() == f"{cid[:12]}\n"
    assert (directory / "hosts").exists() and (directory / "resolv.conf").exists()
    assert containers.log_path(cid).exists()
    # The image's VOLUME became an anonymous volume, attached to the container.
    [(name, target)] = rig.engine.volume_store.of_container(cid)
    assert target == "/data" and rig.engine.volume_store.find(name).anonymous  # type: ignore[union-attr]
    # Creating mounts nothing, signals nothing and runs no container.
    assert not rig.calls("mount_all") and not rig.calls("kill") and not rig.calls("spawn")
    assert containers.get(cid).status.status == Status.CREATED


def test_create_on_the_host_network_takes_the_hosts_name(rig: Rig) -> None:
    cid = _create(rig, network=NetworkMode.parse("host"))
    assert (rig.engine.containers.dir(cid) / "hostname").read_text() == "fakehost\n"


def test_create_checks_cpus_against_the_hosts(rig: Rig) -> None:
    rig.host.cpus = 2
    with pytest.raises(InvalidArgument, match="range of CPUs"):
        _create(rig, resources=Resources(cpus=3.0))
    rig.host.cpus = 4
    _create(rig, name_="fits", resources=Resources(cpus=3.0))


def test_create_checks_ulimits_against_the_hosts_hard_limits(rig: Rig) -> None:
    rig.host.hard_limits["nofile"] = 1024
    with pytest.raises(InvalidArgument, match=r"hard limit \(1024\)"):
        _create(rig, ulimits=[Ulimit("nofile", 1, 2048)])
    _create(rig, ulimits=[Ulimit("nofile", 1, 1024)])


def test_capabilities_are_the_ones_the_host_lets_cove_hand_out(rig: Rig) -> None:
    sys_admin = caps.ALL_CAPS.index("CAP_SYS_ADMIN")
    rig.host.bounding &= ~(1 << sys_admin)  # cove itself runs without CAP_SYS_ADMIN
    with pytest.raises(InvalidArgument, match="CAP_SYS_ADMIN"):
        _create(rig, cap_add=["SYS_ADMIN"])
    cid = _create(rig, privileged=True)
    rig.engine.containers.start(cid)
    spec = json.loads((rig.engine.containers.dir(cid) / "bundle" / "config.json").read_text())
    bounding = spec["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" not in bounding and len(bounding) == len(caps.ALL_CAPS) - 1


def test_a_create_that_fails_midway_leaves_nothing_behind(rig: Rig) -> None:
    before = {s.key for s in rig.engine.store.snapshotter.all()}
    with pytest.raises(InvalidArgument):
        _create(rig, mounts=[MountSpec(VOLUME, "/cache", "no/slashes")])  # refused by the volume store
    containers = rig.engine.containers
    assert containers.records.all() == []
    assert {s.key for s in rig.engine.store.snapshotter.all()} == before
    assert list(containers.containers_dir.iterdir()) == []


# -- start -------------------------------------------------------------------------------------


def test_start_mounts_the_rootfs_writes_the_bundle_and_launches_the_monitor(rig: Rig) -> None:
    cid = _create(rig, stop_timeout=3)
    containers = rig.engine.containers
    record = containers.records.get(cid)
    rootfs = containers.rootfs(cid)

    container = containers.start(cid)

    [(_, mounts, target)] = rig.calls("mount_all")
    assert target == rootfs and list(mounts) == rig.engine.store.snapshotter.mounts(record.snapshot_key)
    spec = json.loads((containers.dir(cid) / "bundle" / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/app", "serve"]
    assert spec["root"]["path"] == str(rootfs)
    assert spec["hostname"] == cid[:12]
    [volume] = [m for m in spec["mounts"] if m["destination"] == "/data"]
    assert volume["source"] == str(rig.engine.volume_store.data_dir(record.config.mounts[0].source))
    [launched] = rig.monitors.started
    assert launched["id"] == cid and launched["runtime"]["path"] == str(rig.runtime)
    assert launched["stop_signal"] == signal.SIGINT and launched["stop_timeout"] == 3
    assert launched["auto_remove_argv"] is None
    assert container.status.status == Status.RUNNING and container.status.supervised


def test_start_fills_an_empty_volume_from_what_the_image_has_there(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    # The recording host mounts nothing: lay out what the snapshot's mount shows at the rootfs.
    seed = containers.rootfs(cid) / "data" / "seed"
    seed.parent.mkdir(parents=True)
    seed.write_text("from the image\n")
    containers.start(cid)
    volume = containers.records.get(cid).config.mounts[0].source
    assert (rig.engine.volume_store.data_dir(volume) / "seed").read_text() == "from the image\n"


def test_a_start_the_runtime_refuses_unmounts_and_gives_dockers_exit_code(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    rig.monitors.start_error = 'exec: "/bin/app": stat /bin/app: no such file or directory'
    with pytest.raises(ContainerStartError) as failed:
        containers.start(cid)
    assert failed.value.exit_code == 127
    assert ("unmount", containers.rootfs(cid)) in rig.host.calls
    assert not rig.host.mounted
    state = read_record(containers.dir(cid) / "state.json")
    assert state["status"] == "created" and state["exit_code"] == 127 and "/bin/app" in state["error"]


def test_an_auto_remove_container_whose_start_fails_is_removed_with_its_volumes(rig: Rig) -> None:
    cid = _create(rig, auto_remove=True)
    [(volume, _)] = rig.engine.volume_store.of_container(cid)
    rig.monitors.start_error = "runtime says no"
    with pytest.raises(ContainerStartError):
        rig.engine.containers.start(cid)
    with pytest.raises(NotFound):
        rig.engine.containers.records.get(cid)
    assert rig.engine.volume_store.find(volume) is None
    assert not rig.engine.containers.dir(cid).exists()


def test_starting_a_running_container_launches_nothing_more(rig: Rig) -> None:
    cid = _create(rig)
    rig.engine.containers.start(cid)
    rig.engine.containers.start(cid)
    assert len(rig.monitors.started) == 1 and len(rig.calls("mount_all")) == 1


# -- stop and kill -------------------------------------------------------------------------------


def test_stop_asks_the_monitor_with_the_images_stop_signal_and_the_containers_timeout(rig: Rig) -> None:
    cid = _create(rig, stop_timeout=3)
    containers = rig.engine.containers
    containers.start(cid)
    monitor_pid = read_record(containers.dir(cid) / "state.json")["monitor_pid"]

    stopped = containers.stop(cid)

    assert rig.monitors.requests == [("stop", {"signal": signal.SIGINT, "grace": 3})]
    assert ("wait_exit", monitor_pid) in rig.host.calls  # until the monitor has let go
    assert stopped.status.status == Status.EXITED and stopped.status.exit_code == 128 + signal.SIGKILL


def test_stop_with_a_signal_and_a_timeout_given(rig: Rig) -> None:
    cid = _create(rig, stop_timeout=3)
    rig.engine.containers.start(cid)
    rig.engine.containers.stop(cid, timeout=0, signal_name="TERM")
    assert rig.monitors.requests == [("stop", {"signal": signal.SIGTERM, "grace": 0})]
    assert rig.engine.containers.get(cid).status.exit_code == 128 + signal.SIGTERM


def test_stopping_a_stopped_container_asks_nothing(rig: Rig) -> None:
    cid = _create(rig)
    assert rig.engine.containers.stop(cid).status.status == Status.CREATED
    assert rig.monitors.requests == [] and not rig.calls("kill")


def test_kill_asks_the_monitor_and_refuses_a_stopped_container(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    with pytest.raises(Conflict, match="is not running"):
        containers.kill(cid)
    containers.start(cid)
    containers.kill(cid, "SIGHUP")
    assert rig.monitors.requests == [("kill", {"signal": signal.SIGHUP})]
    assert containers.get(cid).status.running  # a fake init outlives SIGHUP


def test_restart_stops_then_starts_with_a_new_monitor(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    containers.start(cid)
    first = containers.get(cid).status.pid
    restarted = containers.restart(cid, timeout=5)
    assert rig.monitors.requests == [("stop", {"signal": signal.SIGINT, "grace": 5})]
    assert len(rig.monitors.started) == 2 and len(rig.calls("mount_all")) == 2
    assert restarted.status.running and restarted.status.pid != first


def test_wait_asks_the_monitor_for_the_exit_code_once_it_runs(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    containers.start(cid)
    init = containers.get(cid).status.pid
    rig.host.procs[init].exit_code = 3  # the monitor, asked, tells the code of its init
    assert containers.wait(cid) == 3
    assert rig.monitors.requests == [("wait", {})]


def test_wait_for_a_container_that_exited_reads_its_record(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    containers.start(cid)
    containers.kill(cid, "SIGKILL")
    assert containers.wait(cid) == 128 + signal.SIGKILL
    assert [op for op, _ in rig.monitors.requests] == ["kill"]  # nothing more to ask


@pytest.fixture
def orphan(rig: Rig) -> Iterator[tuple[str, int]]:
    """A container whose monitor was killed while its init runs on: the init is a real process
    (so that its status reads as running), which the host seam must be the only one to signal."""
    cid = _create(rig)
    init = subprocess.Popen(["sleep", "60"])
    try:
        start_time = process.start_time(init.pid)
        assert start_time is not None
        state_path = rig.engine.containers.dir(cid) / "state.json"
        write_record(
            state_path,
            {"status": Status.RUNNING.value, "pid": init.pid, "pid_start": start_time, "monitor_pid": 0},
        )
        rig.host.procs[init.pid] = FakeProcess(("sleep", "60"), start_time=start_time)
        yield cid, init.pid
        assert init.poll() is None, "the engine signalled the process itself, not through its host"
    finally:
        init.kill()
        init.wait()


def test_stopping_a_container_without_its_monitor_signals_its_init_through_the_host(
    rig: Rig, orphan: tuple[str, int]
) -> None:
    cid, pid = orphan
    rig.host.on_signal = lambda proc, sig: setattr(proc, "exit_code", 137) if sig == signal.SIGKILL else None

    stopped = rig.engine.containers.stop(cid, timeout=1)

    signals = [c for c in rig.host.calls if c[0] in ("kill", "wait_exit")]
    assert signals == [
        ("kill", pid, signal.SIGINT),  # the image's STOPSIGNAL, ignored
        ("wait_exit", pid),
        ("kill", pid, signal.SIGKILL),
        ("wait_exit", pid),
    ]
    assert rig.monitors.requests == []
    # Not its child: its exit status is unknown, and said so.
    assert stopped.status.status == Status.EXITED and stopped.status.exit_code is None
    assert stopped.status.error == MONITOR_LOST


def test_killing_a_container_without_its_monitor_signals_its_init_through_the_host(
    rig: Rig, orphan: tuple[str, int]
) -> None:
    cid, pid = orphan
    rig.engine.containers.kill(cid, "SIGUSR1")
    assert [c for c in rig.host.calls if c[0] == "kill"] == [("kill", pid, signal.SIGUSR1)]


# -- remove ------------------------------------------------------------------------------------


def test_remove_takes_the_record_snapshot_directory_and_asked_for_volumes(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    key = containers.records.get(cid).snapshot_key
    [(volume, _)] = rig.engine.volume_store.of_container(cid)
    containers.start(cid)
    with pytest.raises(Conflict, match="container is running"):
        containers.remove(cid)

    containers.remove(cid, force=True, volumes=True)

    assert rig.monitors.requests == [("stop", {"signal": signal.SIGKILL, "grace": 0})]
    with pytest.raises(NotFound):
        containers.records.get(cid)
    assert rig.engine.store.snapshotter.get(key) is None
    assert not containers.dir(cid).exists() and not containers.socket(cid).exists()
    assert rig.engine.volume_store.find(volume) is None
    assert list(containers.containers_dir.iterdir()) == []


def test_remove_keeps_the_volumes_unless_asked(rig: Rig) -> None:
    cid = _create(rig)
    [(volume, _)] = rig.engine.volume_store.of_container(cid)
    rig.engine.containers.remove(cid)
    assert rig.engine.volume_store.find(volume) is not None


def test_remove_of_a_container_the_runtime_still_knows_deletes_it_there(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    runtime = containers.runtime_of(containers.records.get(cid))
    (runtime.state_root / cid).mkdir(parents=True)  # what a killed monitor leaves with the runtime
    other = _create(rig, name_="other")
    containers.remove(cid)
    containers.remove(other)
    assert rig.runtime_commands(other) == []
    assert rig.runtime_commands(cid) == [
        (str(rig.runtime), "--root", str(runtime.state_root), "delete", "--force", cid)
    ]


def test_prune_removes_the_stopped_containers_only(rig: Rig) -> None:
    stopped = _create(rig)
    running = _create(rig, name_="other")
    rig.engine.containers.start(running)
    assert rig.engine.containers.prune().containers == (stopped,)
    assert [c.record.id for c in rig.engine.containers.all()] == [running]


# -- exec (container IO) -------------------------------------------------------------------------


def _live_root(rig: Rig, cid: str) -> Path:
    """The running container's root as /proc/<pid>/root shows it (in the host's proc_dir)."""
    pid = rig.engine.containers.get(cid).status.pid
    root = rig.host.proc_path(f"{pid}/root")
    (root / "bin").mkdir(parents=True)
    program = root / "bin" / "ls"
    program.write_bytes(b"\x7fELF\x01\x01" + bytes(58))  # a static ELF, as far as preflight looks
    program.chmod(0o755)
    return root


def test_exec_runs_the_runtimes_exec_through_the_host_and_waits_for_it(rig: Rig) -> None:
    cid = _create(rig)
    containers = rig.engine.containers
    containers.start(cid)
    _live_root(rig, cid)
    state_root = containers.runtime_of(containers.records.get(cid)).state_root

    session = rig.engine.container_io.exec(cid, ["ls", "-l"], env=["A=1"])
    assert session is not None
    [(_, argv)] = rig.calls("spawn")
    process_file = Path(argv[argv.index("--process") + 1])
    assert argv[:3] == (str(rig.runtime), "--root", str(state_root)) and argv[-1] == cid
    proc = json.loads(process_file.read_text())
    assert proc["args"] == ["ls", "-l"] and "A=1" in proc["env"]
    rig.host.procs[session.pid].exit_code = 3
    assert session.wait() == 3
    assert ("wait", session.pid) in rig.host.calls and not process_file.exists()


def test_a_detached_exec_is_waited_for_at_once(rig: Rig) -> None:
    cid = _create(rig)
    rig.engine.containers.start(cid)
    _live_root(rig, cid)
    assert rig.engine.container_io.exec(cid, ["ls"], detach=True) is None
    [(_, argv)] = rig.calls("spawn")
    assert "--detach" in argv
    pid = rig.host.next_pid - 1
    assert rig.calls("wait") == [("wait", pid)]


def test_exec_in_a_container_that_is_not_running_asks_nothing(rig: Rig) -> None:
    cid = _create(rig)
    with pytest.raises(Conflict, match="is not running"):
        rig.engine.container_io.exec(cid, ["ls"])
    assert not rig.calls("spawn")


# -- stats (container IO) ----------------------------------------------------------------------


class SteppingHost(RecordingHost):
    """/proc/stat moving on between the two readings stats takes."""

    def __init__(self, stats: list[bytes], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._stats = stats

    def read_proc(self, relative: str) -> bytes:
        if relative == "stat":
            self.calls.append(("read_proc", relative))
            return self._stats.pop(0)
        return super().read_proc(relative)


class SteppingRunner(RecordingRunner):
    def __init__(self, events: list[bytes], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._events = events

    def run(self, argv, **kw):  # type: ignore[no-untyped-def]
        if "events" in argv:
            self.results[tuple(argv)] = (0, self._events.pop(0), b"")
        return super().run(argv, **kw)


def _events(cpu_ns: int) -> bytes:
    data = {
        "cpu": {"usage": {"total": cpu_ns}},
        "memory": {"usage": {"usage": 300 << 20, "limit": 1 << 62}, "stats": {"inactive_file": 100 << 20}},
        "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": 7}, {"op": "Write", "value": 9}]},
        "pids": {"current": 4},
    }
    return json.dumps({"type": "stats", "data": data}).encode()


def test_stats_read_the_hosts_proc_and_the_runtimes_events(rig: Rig) -> None:
    # /proc/stat in ticks of 1/100 s: 2 s of CPU time pass on the host between the readings.
    host = SteppingHost(
        [b"cpu  1000 0 1000 0 0 0 0 0 0 0\ncpu0 1\n", b"cpu  1100 0 1100 0 0 0 0 0 0 0\ncpu0 1\n"],
        proc_dir=rig.host.proc_dir,
        online=4,
        memory=8 << 30,
    )
    runner = SteppingRunner([_events(0), _events(500_000_000)], results=rig.runner.results)
    store = rig.engine.store
    store.host, store.runner = host, runner
    rig.monitors.host = host
    cid = _create(rig)
    rig.engine.containers.start(cid)
    pid = rig.engine.containers.get(cid).status.pid
    host.proc_files[f"{pid}/net/dev"] = (
        b"Inter-|   Receive\n face |bytes packets\n"
        b"    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
        b"  eth0: 1500 10 0 0 0 0 0 0 2500 20 0 0 0 0 0 0\n"
    )

    [stats] = rig.engine.container_io.stats([cid])

    # 0.5 s of the container's CPU time over 2 s of the host's, on 4 CPUs.
    assert stats.cpu_percent == pytest.approx(100.0)
    assert (stats.memory_usage, stats.memory_limit) == (200 << 20, 8 << 30)
    assert (stats.net_rx, stats.net_tx) == (1500, 2500)  # the loopback left out
    assert (stats.block_read, stats.block_write, stats.pids) == (7, 9, 4)
    assert host.calls.count(("read_proc", "stat")) == 2

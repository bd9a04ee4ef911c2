"""`cove info`'s facts, without root: the engine is assembled with a recording host whose
facts a test sets, a recording runner in the runtime's place and a stand-in for the monitors;
the store is real, in tmp_path. What the host reports is what info tells, and the container
counts follow each container's state (created, running, paused, exited)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.config import EngineConfig
from cove.containers.model import ContainerConfig
from cove.containers.state import ContainerState, read_record, write_state
from cove.db.database import Database
from cove.engine.bootstrap import Engine, assemble
from cove.host.runner import SubprocessRunner
from cove.snapshots.snapshotter import COPY
from tests.helpers.fakehost import RecordingHost, RecordingRunner
from tests.helpers.fakemonitor import FakeMonitors


@dataclass
class Rig:
    engine: Engine
    host: RecordingHost
    monitors: FakeMonitors
    runtime: Path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    runtime = tmp_path / "runc"
    runtime.write_text("")  # found and its mtime cached; the recording runner answers for it
    config = EngineConfig(
        root=tmp_path / "root", runtime_dir=tmp_path / "run", storage_driver=COPY, runtime=str(runtime)
    )
    config.root.mkdir()
    host = RecordingHost(
        memory=3 << 30,
        cpus=3,
        cgroups=1,
        name="builder-7",
        kernel="5.15.0-test",
        distribution="Testix 12 (quiet)",
        filesystem="ext4",
        filesystems={config.root: "xfs"},
    )
    runner = RecordingRunner(results={(str(runtime), "--version"): (0, b"runc version 1.1.12\n", b"")})
    monitors = FakeMonitors(host)
    engine = assemble(
        config,
        Database(config.root / "cove.db"),
        driver=COPY,
        runner=runner,
        host=host,
        snapshot_runner=SubprocessRunner(),  # the copy snapshotter's `cp -a`, in tmp_path
        monitors=monitors,
    )
    with tarfile.open(tmp_path / "image.tar", "w") as tar:
        body = b"#!/bin/sh\n"
        info = tarfile.TarInfo("app")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    engine.images.import_(str(tmp_path / "image.tar"), "app:1", changes=['CMD ["/app"]'])
    try:
        yield Rig(engine, host, monitors, runtime)
    finally:
        monitors.close()
        engine.close()


def test_info_tells_the_hosts_facts(rig: Rig) -> None:
    info = rig.engine.system.info()
    assert info.kernel_version == "5.15.0-test"
    assert info.operating_system == "Testix 12 (quiet)"
    assert info.cpus == 3 and info.memory == 3 << 30
    assert info.name == "builder-7"
    assert info.cgroup_version == 1
    assert info.backing_filesystem == "xfs"  # the filesystem the store's root is on
    assert info.runtime_path == str(rig.runtime) and info.runtime_version == "1.1.12"
    assert info.images == 1 and info.containers == 0


def test_info_follows_a_change_of_the_hosts_facts(rig: Rig) -> None:
    rig.host.cpus, rig.host.cgroups, rig.host.filesystems = 16, 2, {}
    info = rig.engine.system.info()
    assert (info.cpus, info.cgroup_version, info.backing_filesystem) == (16, 2, "ext4")


def test_info_counts_containers_by_their_state(rig: Rig) -> None:
    containers = rig.engine.containers

    def create(name: str) -> str:
        return containers.create(ContainerConfig(image="app:1"), name).id

    create("created")
    for name in ("running", "paused", "stopped"):
        containers.start(create(name))
    containers.stop("stopped")
    paused = containers.dir(containers.records.resolve("paused").id) / "state.json"
    # What the monitor records when it has paused the container (the stand-in does not pause).
    write_state(paused, ContainerState.from_json(read_record(paused)).paused("paused"))

    info = rig.engine.system.info()
    assert (info.containers, info.containers_running, info.containers_paused) == (4, 1, 1)
    assert info.containers_stopped == 2  # created, and stopped

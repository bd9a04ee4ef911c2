"""A RUN step without root or a runtime: the engine is assembled with a recording host (no
mounts, no processes) and a recording runner in the runtime's place; the store is real, in
tmp_path. The tests check what a RUN asks of the host: its snapshot mounted on a rootfs of
the work area, the runtime run in the foreground on the bundle, everything unmounted after."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cove.build.dockerfile import DockerfileError
from cove.config import EngineConfig
from cove.db.database import Database
from cove.engine.bootstrap import Engine, assemble
from cove.engine.build import BuildRequest
from cove.host.runner import SubprocessRunner
from cove.snapshots.snapshotter import COPY
from tests.helpers.fakehost import RecordingHost, RecordingRunner


@dataclass
class BundleReadingHost(RecordingHost):
    """Keeps each RUN's spec as the runtime would find it (the bundle goes with the work area)."""

    specs: list[dict[str, Any]] = field(default_factory=list)

    def run_streaming(self, argv: Sequence[str], on_output: Callable[[bytes], None]) -> int:
        bundle = Path(argv[list(argv).index("--bundle") + 1])
        self.specs.append(json.loads((bundle / "config.json").read_text()))
        return super().run_streaming(argv, on_output)


@dataclass
class Rig:
    engine: Engine
    host: BundleReadingHost
    runtime: Path
    context: Path

    def calls(self, name: str) -> list[tuple[object, ...]]:
        return [c for c in self.host.calls if c[0] == name]

    def build(self, dockerfile: str) -> str:
        request = BuildRequest(dockerfile=dockerfile, context=self.context, no_cache=True)
        return self.engine.build.build(request, lambda event: None).image_id


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    runtime = tmp_path / "runc"
    runtime.write_text("")  # found and its mtime cached; the recording runner answers for it
    config = EngineConfig(
        root=tmp_path / "root", runtime_dir=tmp_path / "run", storage_driver=COPY, runtime=str(runtime)
    )
    config.root.mkdir()
    host = BundleReadingHost(cgroups=1, cpus=3, bounding=(1 << 14) - 1)
    runner = RecordingRunner(results={(str(runtime), "--version"): (0, b"runc version 1.1.12\n", b"")})
    engine = assemble(
        config,
        Database(config.root / "cove.db"),
        driver=COPY,
        runner=runner,
        host=host,
        snapshot_runner=SubprocessRunner(),  # the copy snapshotter's `cp -a`, in tmp_path
    )
    context = tmp_path / "context"
    context.mkdir()
    try:
        yield Rig(engine, host, runtime, context)
    finally:
        engine.close()


def test_a_run_mounts_its_snapshot_runs_the_runtime_in_the_foreground_and_unmounts(rig: Rig) -> None:
    rig.build('FROM scratch\nRUN ["/bin/true"]\n')

    [(_, mounts, rootfs)] = rig.calls("mount_all")
    assert isinstance(rootfs, Path) and rootfs.name == "rootfs"
    work = rootfs.parent
    assert work.parent == rig.engine.store.root / "build" / "work" and mounts
    [(_, argv)] = rig.calls("run_streaming")
    assert isinstance(argv, tuple) and argv[0] == str(rig.runtime) and "run" in argv
    assert argv[-1] == work.name  # the RUN's container is named after its work directory
    [spec] = rig.host.specs
    assert spec["process"]["args"] == ["/bin/true"]
    assert spec["root"]["path"] == str(rootfs)
    # The host's facts make the spec: on cgroup v1 no cgroup namespace (Docker's default on v2),
    # and only the capabilities the host lets cove hand out (its bounding set stops at 13).
    namespaces = {n["type"] for n in spec["linux"]["namespaces"]}
    assert "cgroup" not in namespaces and "pid" in namespaces
    bounding = spec["process"]["capabilities"]["bounding"]
    assert "CAP_CHOWN" in bounding and "CAP_NET_RAW" in bounding  # numbers 0 and 13
    assert "CAP_SYS_CHROOT" not in bounding and "CAP_SETFCAP" not in bounding  # 18 and 31
    # Unmounted after, and the work directory cleared of mounts before it is removed.
    assert ("unmount", rootfs) in rig.host.calls and ("unmount_all_under", work) in rig.host.calls
    assert not rig.host.mounted and not work.exists()


def test_a_run_that_exits_non_zero_fails_the_build_and_still_unmounts(rig: Rig) -> None:
    rig.host.streamed[(str(rig.runtime),)] = (3, b"it went wrong\n")
    with pytest.raises(DockerfileError, match="code 3"):
        rig.build('FROM scratch\nRUN ["/bin/false"]\n')
    [(_, _, rootfs)] = rig.calls("mount_all")
    assert ("unmount", rootfs) in rig.host.calls and not rig.host.mounted

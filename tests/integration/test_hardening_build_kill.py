"""kill -9 of `cove build` during a RUN step: the step goes with it, at once, without waiting
for another cove command to tidy up (its container, its processes, its mounts, its work dir)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until
from tests.integration.test_build import NOTHING_LEFT, leftovers
from tests.integration.test_command_server import served

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

__all__ = ["served"]  # the fixture, used by name below


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _step_containers(cove: CoveRunner) -> list[tuple[Path, str]]:
    """The runtime's containers of build steps in this store: (state root, name)."""
    base = cove.runtime_dir / "runtime"
    if not base.exists():
        return []
    return [(root, entry.name) for root in base.iterdir() for entry in root.glob("build-*")]


def _sleeping_step(cove: CoveRunner) -> int | None:
    """The PID of the RUN step's `sleep 300` once the runtime runs it."""
    for root, name in _step_containers(cove):
        state = subprocess.run(
            [root.name, "--root", str(root), "state", name], check=False, capture_output=True
        )
        if state.returncode == 0:
            pid = int(json.loads(state.stdout).get("pid") or 0)
            if pid and b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def _work_mounts(cove: CoveRunner) -> list[str]:
    work = str(cove.root / "build" / "work")
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if work in line]


def _work_dirs(cove: CoveRunner) -> list[str]:
    work = cove.root / "build" / "work"
    return sorted(p.name for p in work.iterdir()) if work.exists() else []


def _kill_during_run(cove: CoveRunner, tmp_path: Path) -> int:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN sleep 300\n")
    build = cove.popen(
        "build", "-q", str(tmp_path / "ctx"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: _sleeping_step(cove) is not None, timeout=60)
        sleeper = _sleeping_step(cove)
        assert sleeper is not None
        assert _work_mounts(cove) and _work_dirs(cove)  # (what must go)
    finally:
        build.kill()
        build.communicate()
    return sleeper


def _assert_step_gone(cove: CoveRunner, sleeper: int) -> None:
    # No cove command runs meanwhile: what goes, goes by itself.
    try:
        wait_until(lambda: not _alive(sleeper), timeout=10)
        wait_until(lambda: not _step_containers(cove), timeout=10)
        wait_until(lambda: not _work_mounts(cove), timeout=10)
        wait_until(lambda: not _work_dirs(cove), timeout=10)
    finally:
        if _alive(sleeper):  # (the test failed: its step's process does not outlive it)
            os.kill(sleeper, signal.SIGKILL)


def test_a_killed_build_takes_its_run_step_with_it(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    sleeper = _kill_during_run(cove, tmp_path)
    _assert_step_gone(cove, sleeper)
    cove("images")  # and the next command tidies the rest (the step's snapshot)
    assert leftovers(cove) == NOTHING_LEFT


def test_through_the_command_server_too(served: CoveRunner, tmp_path: Path) -> None:
    cove = served
    sleeper = _kill_during_run(cove, tmp_path)  # the client: the server kills its command
    _assert_step_gone(cove, sleeper)

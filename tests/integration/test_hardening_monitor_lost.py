"""A container whose monitor was killed: its exit code is unknown, and cove says so instead of
making one up (no 143 for a stop, no 255 for an exit nobody saw, no 0 for an attached run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

UNKNOWN = "the monitor of this container died; its exit status is unknown"


def inspect(cove: CoveRunner, ref: str, field: str) -> str:
    return cove("inspect", "--format", "{{" + field + "}}", ref).out.strip()


def kill_monitor(cove: CoveRunner, cid: str) -> None:
    state = json.loads((cove.root / "containers" / cid / "state.json").read_text())
    monitor = int(state["monitor_pid"])
    os.kill(monitor, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{monitor}").exists() or _zombie(monitor))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def assert_unknown(cove: CoveRunner, cid: str) -> None:
    assert inspect(cove, cid, ".State.Status") == "exited"
    assert inspect(cove, cid, ".State.ExitCode") == "-1"  # as podman says it
    assert inspect(cove, cid, ".State.Error") == UNKNOWN
    (line,) = [row for row in cove("ps", "-a", "--no-trunc").out.splitlines() if cid in row]
    assert "Exited (unknown)" in line, line
    assert cove("ps", "-aq", "--filter", "exited=-1", "--no-trunc").out.split() == [cid]
    waited = cove.proc("wait", cid, check=False)
    assert (waited.returncode, waited.stdout) == (125, b"")
    assert waited.stderr.decode() == (
        f"Error: the exit code of container {inspect(cove, cid, '.Name').lstrip('/')} is unknown:"
        " its monitor died before recording it\n"
    )


def test_a_container_that_exits_by_itself_after_its_monitor_died(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "-v", f"{tmp_path}:/signal", "busybox", "sh", "-c",
        "until [ -e /signal/go ]; do sleep 0.05; done; exit 3",
    ).out.strip()  # fmt: skip
    kill_monitor(cove, cid)
    assert inspect(cove, cid, ".State.Status") == "running"  # unsupervised
    (tmp_path / "go").touch()
    wait_until(lambda: inspect(cove, cid, ".State.Status") == "exited")
    assert_unknown(cove, cid)
    cove("stop", cid)  # nothing to stop: and no code made up on the way
    assert_unknown(cove, cid)
    cove("rm", cid)


def test_a_container_stopped_by_cove_after_its_monitor_died(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "busybox", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"
    ).out.strip()
    kill_monitor(cove, cid)
    cove("stop", "-t", "5", cid)
    assert_unknown(cove, cid)
    cove("start", cid)
    assert inspect(cove, cid, ".State.ExitCode") == "0"  # a fresh monitor, a fresh record
    cove("rm", "-f", cid)
    # One that ignores the stop signal (a namespace's init has no default action for SIGTERM)
    # and is killed when its grace time is up.
    cid = cove("run", "-d", "busybox", "sh", "-c", "while :; do sleep 0.05; done").out.strip()
    kill_monitor(cove, cid)
    cove("stop", "-t", "1", cid)
    assert_unknown(cove, cid)
    cove("rm", cid)


def test_wait_on_an_unsupervised_container_waits_then_says_unknown(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "-v", f"{tmp_path}:/signal", "busybox", "sh", "-c",
        "until [ -e /signal/go ]; do sleep 0.05; done; exit 3",
    ).out.strip()  # fmt: skip
    kill_monitor(cove, cid)
    waiter = cove.popen("wait", cid, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: not (tmp_path / "go").exists() and waiter.poll() is None)
        (tmp_path / "go").touch()
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert (waiter.returncode, out) == (125, b"")
    assert b"is unknown" in err
    cove("rm", cid)


def _attached_then_monitor_killed(cove: CoveRunner, *args: str) -> tuple[int, bytes, bytes]:
    client = cove.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert client.stdout is not None
    assert client.stdout.readline() == b"ready\n"
    (cid,) = cove("ps", "-q", "--no-trunc").out.split()
    kill_monitor(cove, cid)
    out, err = client.communicate(timeout=60)
    return client.returncode, out, err


def test_an_attached_run_whose_monitor_dies_does_not_report_0(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    code, out, err = _attached_then_monitor_killed(
        cove, "run", "--name", "cut", "busybox", "sh", "-c", "echo ready; exec sleep 60"
    )
    assert (code, out) == (125, b"")
    assert err.decode() == (
        "Error: the monitor of container cut died: it runs on unsupervised, and its exit code cannot"
        " be known (hint: cove stop cut)\n"
    )
    assert inspect(cove, "cut", ".State.Status") == "running"  # still there, as the hint says
    cove("stop", "-t", "1", "cut")
    assert_unknown(cove, inspect(cove, "cut", ".Id"))

    # start -a, the same.
    cove("rm", "cut")
    cove("create", "--name", "cut", "busybox", "sh", "-c", "echo ready; exec sleep 60")
    code, _, err = _attached_then_monitor_killed(cove, "start", "-a", "cut")
    assert code == 125 and b"runs on unsupervised" in err
    cove("rm", "-f", "cut")

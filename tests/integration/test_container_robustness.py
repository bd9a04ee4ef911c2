"""Containers under stress: many at once, limits hit, monitors and cove killed, nothing leaked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import assert_no_traces, command_servers_of, processes_mentioning, wait_until


def inspect(cove: CoveRunner, ref: str, field: str) -> str:
    return cove("inspect", "--format", "{{" + field + "}}", ref).out.strip()


@pytest.mark.slow
def test_twenty_parallel_runs(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox

    def run(i: int) -> subprocess.CompletedProcess[bytes]:
        return cove.proc("run", "-d", "--name", f"par{i}", "busybox", "sleep", "60", check=False)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(run, range(20)))
    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    ids = [r.stdout.decode().strip() for r in results]
    assert len(set(ids)) == 20
    listed = cove("ps", "-q", "--no-trunc").out.split()
    assert sorted(listed) == sorted(ids)
    with ThreadPoolExecutor(max_workers=20) as pool:
        removed = list(pool.map(lambda cid: cove.proc("rm", "-f", cid, check=False), ids))
    assert [r.returncode for r in removed] == [0] * 20
    assert cove("ps", "-aq").out == ""
    for cid in ids:
        assert_no_traces(cove.root, cid)


@pytest.mark.slow
def test_oom_is_reported(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # Grow a shell variable past the limit (no swap to hide in).
    cid = cove(
        "run",
        "-d",
        "--memory",
        "20m",
        "--memory-swap",
        "20m",
        "busybox",
        "sh",
        "-c",
        'x=1234567890; while :; do x="$x$x"; done',
    ).out.strip()
    wait_until(lambda: inspect(cove, cid, ".State.Status") == "exited", timeout=60)
    assert inspect(cove, cid, ".State.OOMKilled") == "true"
    assert inspect(cove, cid, ".State.ExitCode") == "137"
    cove("rm", cid)
    assert_no_traces(cove.root, cid)


@pytest.mark.slow
def test_pids_limit_stops_a_fork_bomb(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # The loop runs in a subshell: the shell gives up at the first fork the limit refuses, then
    # PID 1 replaces itself (exec needs no new process) so the sleepers stay to be counted.
    script = (
        "(i=0; while [ $i -lt 10000 ]; do sleep 60 & i=$((i+1)); done) 2>/dev/null; echo done; exec sleep 60"
    )
    cid = cove("run", "-d", "--pids-limit", "100", "busybox", "sh", "-c", script).out.strip()
    try:
        wait_until(lambda: "done" in cove.proc("logs", cid).stdout.decode(), timeout=120)
        pids = int(json.loads(cove("stats", "--no-stream", "--format", "json", cid).out)["PIDs"])
        assert 90 <= pids <= 100, pids
    finally:
        cove("rm", "-f", cid)
    assert_no_traces(cove.root, cid)


def _monitor_pid(cove: CoveRunner, cid: str) -> int:
    state = json.loads((cove.root / "containers" / cid / "state.json").read_text())
    return int(state["monitor_pid"])


@pytest.mark.slow
def test_killed_monitor_then_stop_restart_rm(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    ).out.strip()
    init_pid = int(inspect(cove, cid, ".State.Pid"))
    os.kill(_monitor_pid(cove, cid), signal.SIGKILL)
    time.sleep(0.2)
    # ps still tells the truth: the container runs on, unsupervised
    assert inspect(cove, cid, ".State.Status") == "running"
    assert inspect(cove, cid, ".State.Pid") == str(init_pid)
    assert "monitor" in inspect(cove, cid, ".State.Error")
    cove("stop", "-t", "5", cid)
    assert inspect(cove, cid, ".State.Status") == "exited"
    cove("start", cid)
    assert inspect(cove, cid, ".State.Status") == "running"
    os.kill(_monitor_pid(cove, cid), signal.SIGKILL)
    cove("restart", "-t", "1", cid)
    assert inspect(cove, cid, ".State.Status") == "running"
    os.kill(_monitor_pid(cove, cid), signal.SIGKILL)
    cove("rm", "-f", cid)
    assert_no_traces(cove.root, cid)


@pytest.mark.slow
def test_killed_monitor_and_a_container_that_died_meanwhile(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "busybox", "sleep", "60").out.strip()
    init_pid = int(inspect(cove, cid, ".State.Pid"))
    os.kill(_monitor_pid(cove, cid), signal.SIGKILL)
    os.kill(init_pid, signal.SIGKILL)
    wait_until(lambda: inspect(cove, cid, ".State.Status") == "exited")
    assert inspect(cove, cid, ".State.ExitCode") == "-1"  # unknown: nobody saw the exit
    assert "Exited (unknown)" in cove("ps", "-a").out
    cove("start", cid)  # a fresh monitor, a fresh start
    assert inspect(cove, cid, ".State.Status") == "running"
    cove("rm", "-f", cid)
    assert_no_traces(cove.root, cid)


def test_cove_killed_during_run_leaves_usable_state(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    for delay in (0.05, 0.15, 0.3):
        proc = cove.popen(
            "run",
            "--name",
            f"k{int(delay * 100)}",
            "busybox",
            "sleep",
            "30",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    listed = cove("ps", "-a", "--format", "{{.Names}} {{.State}}").out.splitlines()
    for line in listed:
        name, status = line.split()
        assert status in ("created", "running"), line
        cove("rm", "-f", name)
    assert cove("ps", "-aq").out == ""


@pytest.mark.slow
def test_health_checks(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "--health-start-period",
        "1s",
        "--health-start-interval",
        "200ms",
        "busybox",
        "sleep",
        "60",
    ).out.strip()
    try:
        assert inspect(cove, cid, ".State.Health.Status") == "starting"
        assert "(health: starting)" in cove("ps", "--format", "{{.Status}}").out
        wait_until(lambda: inspect(cove, cid, ".State.Health.Status") == "unhealthy", timeout=30)
        assert cove("ps", "--filter", "health=unhealthy", "-q").out.strip() == cid[:12]
        cove("exec", cid, "touch", "/tmp/ok")
        wait_until(lambda: inspect(cove, cid, ".State.Health.Status") == "healthy", timeout=30)
        log = json.loads(cove("inspect", "--format", "{{json .State.Health.Log}}", cid).out)
        assert log[-1]["ExitCode"] == 0 and len(log) <= 5
        assert "(healthy)" in cove("ps", "--format", "{{.Status}}").out
    finally:
        cove("rm", "-f", cid)
    # An image's HEALTHCHECK: --no-healthcheck turns it off; --health-* timings alone keep its test.
    base = cove("create", "busybox", "true").out.strip()
    cove("commit", "-c", "HEALTHCHECK --interval=30s CMD true", base, "checked:1")
    cove("rm", base)
    plain = cove("run", "-d", "--no-healthcheck", "checked:1", "sleep", "5").out.strip()
    assert inspect(cove, plain, ".State.Health") == "<no value>"
    assert inspect(cove, plain, ".Config.Healthcheck.Test") == "[NONE]"
    cove("rm", "-f", plain)
    timed = cove("run", "-d", "--health-interval", "200ms", "checked:1", "sleep", "30").out.strip()
    try:
        assert inspect(cove, timed, ".Config.Healthcheck.Test") == "[CMD-SHELL true]"
        assert inspect(cove, timed, ".Config.Healthcheck.Interval") == "200000000"
        wait_until(lambda: inspect(cove, timed, ".State.Health.Status") == "healthy", timeout=30)
    finally:
        cove("rm", "-f", timed)


@pytest.mark.slow
def test_health_check_timeout(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "500ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "60",
    ).out.strip()
    try:
        wait_until(lambda: inspect(cove, cid, ".State.Health.Status") == "unhealthy", timeout=30)
        log = json.loads(cove("inspect", "--format", "{{json .State.Health.Log}}", cid).out)
        assert log[-1]["ExitCode"] == -1 and "exceeded timeout" in log[-1]["Output"]
    finally:
        cove("rm", "-f", cid)


@pytest.mark.slow
def test_detached_rm_removes_itself(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.3").out.strip()
    wait_until(lambda: cove("ps", "-aq").out == "", timeout=30)
    wait_until(lambda: not processes_mentioning(cid))  # the monitor, become `cove rm`, finishing
    assert_no_traces(cove.root, cid)
    # A one-shot removal starts no command server (one would stay 15 minutes for nobody).
    assert command_servers_of(cove.root) == []

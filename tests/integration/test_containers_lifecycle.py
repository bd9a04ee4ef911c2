"""The container lifecycle on the real runtime: run, create, start, stop, kill, restart, rm..."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import assert_no_traces, wait_until


def state(cove: CoveRunner, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(cove("inspect", "--format", "{{json .State}}", name).out)  # type: ignore[no-any-return]


def test_info_names_the_runtime_and_cgroups(cove_busybox: CoveRunner) -> None:
    info = cove_busybox("info").out
    assert "Runtime: runc" in info or "Runtime: crun" in info
    assert "Cgroup Version: " in info
    data = json.loads(cove_busybox("info", "--format", "json").out)
    assert data["DefaultRuntime"] in ("runc", "crun")
    assert data["CgroupVersion"] in ("1", "2")


@pytest.mark.slow
def test_run_prints_output_and_returns_the_exit_code(cove_busybox: CoveRunner) -> None:
    proc = cove_busybox.proc(
        "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False
    )
    assert proc.returncode == 3
    assert proc.stdout == b"out\n"
    assert proc.stderr == b"err\n"
    assert cove_busybox("ps", "-aq").out == ""


def test_create_start_stop_rm(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "create", "--name", "svc", "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    ).out.strip()
    assert len(cid) == 64
    assert state(cove, "svc")["Status"] == "created"
    assert "Created" in cove("ps", "-a").out
    assert cove("ps", "-q").out == ""
    assert cove("start", "svc").out == "svc\n"
    st = state(cove, "svc")
    assert st["Status"] == "running" and st["Running"] and st["Pid"] > 0
    assert cove("ps", "-q").out == cid[:12] + "\n"
    assert cove("stop", "svc").out == "svc\n"
    st = state(cove, "svc")
    assert st["Status"] == "exited" and st["ExitCode"] == 0 and not st["Running"]
    assert cove("start", "svc").out == "svc\n"  # again
    assert state(cove, "svc")["Running"]
    busy = cove("rm", "svc", check=False)
    assert busy.rc == 1 and "container is running" in busy.err
    assert cove("rm", "-f", "svc").out == "svc\n"
    assert_no_traces(cove.root, cid)


@pytest.mark.slow
def test_stop_kills_a_container_that_ignores_sigterm(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # busybox sh as PID 1 has no handler for SIGTERM, so it ignores it, as in Docker.
    cid = cove("run", "-d", "busybox", "sh", "-c", "while :; do sleep 0.1; done").out.strip()
    started = time.monotonic()
    cove("stop", "-t", "1", cid)
    assert 0.9 < time.monotonic() - started < 5
    assert state(cove, cid)["ExitCode"] == 137
    cove("rm", cid)
    assert_no_traces(cove.root, cid)


@pytest.mark.slow
def test_kill_restart_wait_pause(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("run", "-d", "--name", "k", "busybox", "sh", "-c", "trap 'exit 7' USR1; while :; do sleep 0.1; done")
    cove("kill", "-s", "USR1", "k")
    assert cove("wait", "k").out == "7\n"
    assert "Exited (7)" in cove("ps", "-a", "--format", "{{.Status}}").out
    cove("restart", "k")
    assert state(cove, "k")["Running"]
    cove("pause", "k")
    assert state(cove, "k")["Status"] == "paused"
    assert "(Paused)" in cove("ps", "--format", "{{.Status}}").out
    assert "already paused" in cove("pause", "k", check=False).err
    cove("unpause", "k")
    assert state(cove, "k")["Status"] == "running"
    cove("kill", "k")
    assert cove("wait", "k").out == "137\n"
    not_running = cove("kill", "k", check=False)
    assert not_running.rc == 1 and "is not running" in not_running.err
    cove("rm", "k")


@pytest.mark.slow
def test_rename_and_names(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("create", "busybox").out.strip()
    name = cove("inspect", "--format", "{{.Name}}", cid).out.strip()
    assert name.startswith("/") and "_" in name  # a friendly generated name
    cove("rename", cid, "fresh")
    assert cove("inspect", "--format", "{{.Name}}", "fresh").out == "/fresh\n"
    cove("create", "--name", "other", "busybox")
    clash = cove("rename", "fresh", "other", check=False)
    assert clash.rc == 1 and "already in use" in clash.err
    dup = cove("create", "--name", "other", "busybox", check=False)
    assert dup.rc == 125 and 'the container name "/other" is already in use' in dup.err
    bad = cove("create", "--name", "bad name!", "busybox", check=False)
    assert bad.rc == 125 and "invalid container name" in bad.err
    assert cove("ps", "-a", "--filter", "name=fresh", "-q").out == cid[:12] + "\n"


@pytest.mark.slow
def test_restart_policies(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    wait_until(lambda: state(cove, "flaky")["Status"] == "exited", timeout=30)
    assert cove("inspect", "--format", "{{.RestartCount}}", "flaky").out == "2\n"
    cove("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0")
    wait_until(lambda: int(cove("inspect", "--format", "{{.RestartCount}}", "always").out) >= 2, timeout=30)
    cove("stop", "-t", "0", "always")  # a stop is final: no more restarts
    count = cove("inspect", "--format", "{{.RestartCount}}", "always").out
    time.sleep(1)
    assert cove("inspect", "--format", "{{.RestartCount}}", "always").out == count
    assert state(cove, "always")["Status"] == "exited"
    conflict = cove("run", "--rm", "--restart", "always", "busybox", "true", check=False)
    assert conflict.rc == 125 and "--restart" in conflict.err


def test_rm_removes_anonymous_volumes_only_with_v(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("create", "--name", "a", "-v", "/data", "-v", "named:/named", "busybox")
    volumes = cove("volume", "ls", "-q").out.split()
    assert "named" in volumes and len(volumes) == 2
    cove("rm", "-v", "a")
    assert cove("volume", "ls", "-q").out.split() == ["named"]
    cove("create", "--name", "b", "-v", "/data", "busybox")
    cove("rm", "b")
    assert len(cove("volume", "ls", "-q").out.split()) == 2  # without -v it stays


@pytest.mark.slow
def test_container_prune(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    done = cove("run", "-d", "busybox", "true").out.strip()
    cove("wait", done)
    live = cove("run", "-d", "busybox", "sleep", "30").out.strip()
    out = cove("container", "prune", "-f").out
    assert done in out and live not in out
    assert cove("ps", "-aq").out == live[:12] + "\n"
    cove("rm", "-f", live)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nosuchprogram"], 127, 'exec: "nosuchprogram": executable file not found in $PATH'),
        (["/etc/passwd"], 126, "/etc/passwd: permission denied: the file is not executable"),
        (["/bin"], 126, "is a directory"),
    ],
)
@pytest.mark.slow
def test_start_failures_name_the_file_and_cause(
    cove_busybox: CoveRunner, args: list[str], code: int, message: str
) -> None:
    proc = cove_busybox.proc("run", "--rm", "busybox", *args, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert cove_busybox("ps", "-aq").out == ""


@pytest.mark.slow
def test_scripts_with_missing_or_crlf_interpreters(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    (tmp_path / "missing.sh").write_text("#!/bin/bash\necho hi\n")
    (tmp_path / "crlf.sh").write_text("#!/bin/sh\r\necho hi\r\n")
    (tmp_path / "ok.sh").write_text("#!/bin/sh\necho fine\n")
    for name in ("missing.sh", "crlf.sh", "ok.sh"):
        (tmp_path / name).chmod(0o755)
    mount = f"{tmp_path}:/scripts:ro"
    proc = cove.proc("run", "--rm", "-v", mount, "busybox", "/scripts/missing.sh", check=False)
    assert proc.returncode == 127
    assert "the script's interpreter /bin/bash is not in the image" in proc.stderr.decode()
    proc = cove.proc("run", "--rm", "-v", mount, "busybox", "/scripts/crlf.sh", check=False)
    assert proc.returncode == 127
    assert "Windows (CRLF) line endings" in proc.stderr.decode()
    assert cove.proc("run", "--rm", "-v", mount, "busybox", "/scripts/ok.sh").stdout == b"fine\n"


@pytest.mark.slow
def test_image_is_not_needed_once_created(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("create", "--name", "orphan", "busybox", "echo", "still here")
    cove("rmi", "-f", "busybox")
    assert cove.proc("start", "-a", "orphan").stdout == b"still here\n"


def test_an_older_record_whose_image_is_gone_says_so(cove_busybox: CoveRunner) -> None:
    """A record from before the image's settings were kept, whose image was removed since: its
    settings are unknown, so a start is refused with a reason (not run with an empty image
    config), while ps and inspect still show what the container's own config says."""
    cove = cove_busybox
    cove("create", "--name", "old", "busybox", "echo", "hi")
    cove("rmi", "-f", "busybox")
    with contextlib.closing(sqlite3.connect(cove.root / "cove.db")) as db, db:
        (config,) = db.execute("SELECT config FROM containers WHERE name = 'old'").fetchone()
        db.execute(
            "UPDATE containers SET config = ? WHERE name = 'old'",
            (json.dumps({**json.loads(config), "image_defaults": {}}),),
        )
    started = cove("start", "old", check=False)
    assert started.rc == 1 and "does not keep the image's settings" in started.err, started
    assert json.loads(cove("inspect", "old").out)[0]["Path"] == "echo"
    assert '"echo hi"' in cove("ps", "-a", "--filter", "name=old").out

"""The command server: commands handed to a warm cove behave as they do in a process of their own."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cove.version as cove_version
from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until
from tests.helpers.terminal import pty_session, read_until


def _pid_file(cove: CoveRunner) -> Path | None:
    found = sorted(cove.runtime_dir.glob("cmd-*.pid"))
    return found[0] if found else None


def server_pid(cove: CoveRunner) -> int:
    path = _pid_file(cove)
    assert path is not None, "no command server is running"
    wait_until(lambda: path.read_text().strip().isdigit(), timeout=10)  # (written just after it is made)
    return int(path.read_text())


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def _commands_of(server: int, client: int) -> list[int]:
    """The server's forks running ``client``'s command (they write to the client's stdout);
    the server also keeps an idle fork ready for the next command."""
    theirs = os.readlink(f"/proc/{client}/fd/1")
    found = []
    for pid in _children(server):
        with contextlib.suppress(FileNotFoundError):
            if os.readlink(f"/proc/{pid}/fd/1") == theirs:
                found.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _serving(cove: CoveRunner) -> bool:
    sockets = list(cove.runtime_dir.glob("cmd-*.sock"))
    return bool(sockets) and _pid_file(cove) is not None


@pytest.fixture
def served(cove_busybox: CoveRunner) -> Iterator[CoveRunner]:
    """A store whose commands go to a command server (started by the first one)."""
    cove = cove_busybox
    cove.env["COVE_COMMAND_SERVER"] = "1"
    cove.proc("version")  # runs by itself, and starts the server in the background
    wait_until(lambda: _serving(cove), timeout=30)
    yield cove
    for path in cove.runtime_dir.glob("cmd-*.pid"):
        pid = int(path.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda pid=pid: not _alive(pid), timeout=30)
    for log in cove.runtime_dir.glob("cmd-*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()


@pytest.mark.slow
def test_a_command_runs_in_a_fork_of_the_server(served: CoveRunner) -> None:
    cove = served
    server = server_pid(cove)
    cid = cove.proc("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        follower = cove.popen("logs", "-f", cid, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: len(_commands_of(server, follower.pid)) == 1)
            (worker,) = _commands_of(server, follower.pid)
            # A fork of the server (same argv) with the client's stdio as its own.
            assert (
                Path(f"/proc/{worker}/cmdline").read_bytes() == Path(f"/proc/{server}/cmdline").read_bytes()
            )
            assert os.readlink(f"/proc/{worker}/fd/2") == os.readlink(f"/proc/{follower.pid}/fd/2")
        finally:
            follower.kill()  # kill -9 of the client: its command goes with it
            follower.communicate()
        wait_until(lambda: not _alive(worker))
    finally:
        cove.proc("rm", "-f", cid)
    assert server_pid(cove) == server


@pytest.mark.slow
def test_exit_codes_output_and_errors_are_the_commands_own(served: CoveRunner) -> None:
    cove = served
    proc = cove.proc("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, b"out\n", b"err\n")
    missing = cove.proc("inspect", "nosuch", check=False)
    assert missing.returncode == 1 and b"No such object: nosuch" in missing.stderr
    usage = cove.proc("run", "--nosuchflag", "busybox", check=False)
    assert usage.returncode == 125 and b"unrecognized arguments" in usage.stderr
    not_found = cove.proc("run", "--rm", "busybox", "nosuch", check=False)
    assert not_found.returncode == 127
    assert cove.proc("--version").stdout.decode() == f"cove version {cove_version.__version__}\n"


@pytest.mark.slow
def test_stdin_cwd_environment_and_umask_come_from_the_client(served: CoveRunner, tmp_path: Path) -> None:
    cove = served
    piped = cove.proc("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"from the client\n")
    assert piped.stdout == b"FROM THE CLIENT\n"
    (tmp_path / "vars").write_text("FROM_FILE=1\n")
    env = {**cove.env, "PASSED": "from-env"}
    proc = subprocess.run(
        [
            *_cove_argv(),
            "run",
            "--rm",
            "--env-file",
            "vars",
            "-e",
            "PASSED",
            "busybox",
            "sh",
            "-c",
            "echo $FROM_FILE $PASSED",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
    )
    assert proc.stdout == b"1 from-env\n"
    # A file the command writes gets the client's umask and lands in the client's directory.
    subprocess.run(
        ["sh", "-c", f"umask 077 && exec {' '.join(_cove_argv())} save -o image.tar busybox"],
        cwd=tmp_path,
        env=cove.env,
        check=True,
    )
    assert (tmp_path / "image.tar").stat().st_mode & 0o777 == 0o600


def _cove_argv() -> list[str]:
    return [sys.executable, "-m", "cove"]


@pytest.mark.slow
def test_signals_reach_the_command(served: CoveRunner) -> None:
    cove = served
    script = "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done"
    client = cove.popen("run", "--rm", "busybox", "sh", "-c", script, stdout=subprocess.PIPE)
    assert client.stdout is not None
    assert client.stdout.readline() == b"ready\n"
    client.send_signal(signal.SIGTERM)  # to the client: forwarded to the command, proxied to the container
    out, _ = client.communicate(timeout=30)
    assert (client.returncode, out) == (3, b"got TERM\n")

    waiting = cove.popen("wait", "nosuch-yet", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    waiting.communicate(timeout=30)  # an error exit, but it went through the server too
    cid = cove.proc("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        waiter = cove.popen("wait", cid, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        waiter.send_signal(signal.SIGINT)  # Ctrl-C: the command stops as it would by itself
        waiter.communicate(timeout=30)
        assert waiter.returncode == 130
    finally:
        cove.proc("rm", "-f", cid)


def test_a_signal_the_client_was_started_ignoring_is_not_forwarded(served: CoveRunner) -> None:
    # `trap '' INT` (or nohup's SIGHUP) before cove: the caller asked not to be cut short by it,
    # as a command run in the client's own process would not be.
    cove = served
    cid = cove.proc("run", "-d", "--init", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        argv = " ".join(_cove_argv())
        waiter = subprocess.Popen(
            ["sh", "-c", f"trap '' INT; exec {argv} wait {cid}"], env=cove.env, stdout=subprocess.PIPE
        )
        time.sleep(0.5)
        waiter.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting
        cove.proc("kill", cid)
        out, _ = waiter.communicate(timeout=30)
        assert (waiter.returncode, out) == (0, b"137\n")
    finally:
        cove.proc("rm", "-f", cid)


def test_a_terminal_through_the_server(served: CoveRunner) -> None:
    pid, master = pty_session(served.env, "run", "-it", "--rm", "busybox", "sh")
    try:
        read_until(master, b"# ")
        os.write(master, b"tty; echo $((6*7))\r")
        assert b"42" in read_until(master, b"42")
        os.write(master, b"exit 4\r")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 4
    finally:
        os.close(master)


@pytest.mark.slow
def test_parallel_commands(served: CoveRunner) -> None:
    cove = served

    def run(i: int) -> int:
        return cove.proc("run", "--rm", "busybox", "sh", "-c", f"exit {i}", check=False).returncode

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        assert list(pool.map(run, range(10))) == list(range(10))
    assert cove.proc("ps", "-aq").stdout == b""


@pytest.mark.slow
def test_a_killed_server_is_reported_and_replaced(served: CoveRunner) -> None:
    cove = served
    old = server_pid(cove)
    client = cove.popen("run", "--name", "orphan", "busybox", "sleep", "60", stderr=subprocess.PIPE)
    # (in-process checks, which do not go through the server)
    wait_until(lambda: cove("ps", "-q", "--filter", "name=orphan").out != "")
    (worker,) = _commands_of(old, client.pid)
    os.kill(old, signal.SIGKILL)
    _, err = client.communicate(timeout=30)
    assert client.returncode == 125
    assert b"command server went away" in err
    # Its command went with it (as with a killed cove); the container runs on, as after a
    # killed `cove run`, and the next command starts a new server.
    wait_until(lambda: not _alive(worker))
    assert cove("inspect", "--format", "{{.State.Status}}", "orphan").out == "running\n"
    assert cove.proc("ps", "-q").stdout != b""  # finds the dead server's socket: runs by itself
    wait_until(lambda: _serving(cove) and server_pid(cove) != old, timeout=30)
    cove.proc("rm", "-f", "orphan")
    assert cove.proc("run", "--rm", "busybox", "true").returncode == 0


def test_changed_sources_retire_the_server(served: CoveRunner) -> None:
    cove = served
    old = server_pid(cove)
    source = Path(cove_version.__file__)
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        # The old server refuses (the command runs by itself), leaves, and a new one starts.
        assert cove.proc("images", "-q").returncode == 0
        wait_until(lambda: not _alive(old))
        wait_until(lambda: _serving(cove) and server_pid(cove) != old, timeout=30)
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.slow
def test_an_idle_server_leaves(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove.env.update(COVE_COMMAND_SERVER="1", COVE_COMMAND_SERVER_IDLE="1")
    cove.proc("version")
    wait_until(lambda: _serving(cove), timeout=30)
    pid = server_pid(cove)
    wait_until(lambda: not _alive(pid), timeout=30)
    assert list(cove.runtime_dir.glob("cmd-*.sock")) == []
    assert list(cove.runtime_dir.glob("cmd-*.pid")) == []


def test_turned_off_no_server_starts(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox  # COVE_COMMAND_SERVER=0 in the tests' environment
    cove.proc("version")
    time.sleep(0.5)
    assert list(cove.runtime_dir.glob("cmd-*")) == []

"""A command server killed while it serves a command: its client always says so in one line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until
from tests.integration.test_command_server import _alive, _serving, served, server_pid

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

__all__ = ["served"]  # the fixture, used by name below

LOST = b"Error: the cove command server went away while running this command\n"
ROUNDS = 30


def _new_server(cove: CoveRunner, old: int) -> int:
    """The server that replaced ``old`` (the dead one's pid file stays behind)."""
    cove.proc("version")  # finds the dead server's socket, runs by itself, starts a new one
    wait_until(lambda: _serving(cove) and server_pid(cove) != old and _alive(server_pid(cove)), timeout=30)
    return server_pid(cove)


def _waiting_on_a_socket(pid: int) -> bool:
    return "unix_stream" in Path(f"/proc/{pid}/wchan").read_text()


def _run_d(cove: CoveRunner) -> subprocess.Popen[bytes]:
    return cove.popen("run", "-d", "busybox", "sleep", "60", stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _remove_all(cove: CoveRunner) -> None:
    ids = cove.proc("ps", "-aq").stdout.split()
    if ids:
        cove.proc("rm", "-f", *(i.decode() for i in ids))


def test_a_request_still_in_a_killed_servers_backlog(served: CoveRunner) -> None:
    cove = served
    server = server_pid(cove)
    os.kill(server, signal.SIGSTOP)  # it takes no connection now
    client = _run_d(cove)
    try:
        wait_until(lambda: _waiting_on_a_socket(client.pid))  # connected, request sent
    finally:
        os.kill(server, signal.SIGKILL)  # the connection is reset (ECONNRESET), not closed
    out, err = client.communicate(timeout=60)
    assert (client.returncode, out, err) == (125, b"", LOST)
    _new_server(cove, server)
    assert cove.proc("ps", "-aq").stdout == b""  # the command never ran


def test_a_server_killed_during_run_d_never_shows_a_traceback(served: CoveRunner) -> None:
    cove = served
    rng = random.Random(13)
    outcomes: list[int] = []
    server = server_pid(cove)
    for round_ in range(ROUNDS):
        client = _run_d(cove)
        # Every other round in the first 40 ms, while the client starts, connects and sends its
        # request; the others later, while the command runs.
        time.sleep(rng.uniform(0.0, 0.04) if round_ % 2 else rng.uniform(0.04, 0.4))
        os.kill(server, signal.SIGKILL)
        out, err = client.communicate(timeout=60)
        if client.returncode == 0:  # done before the kill, or run by the client itself
            assert len(out.split()) == 1, (out, err)
        else:
            assert (client.returncode, err) == (125, LOST)
        outcomes.append(client.returncode)
        server = _new_server(cove, server)
    assert outcomes.count(125) >= ROUNDS // 3, outcomes  # most kills caught a command
    _remove_all(cove)

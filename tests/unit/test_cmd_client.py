"""The command server's client (cove.cli.cmd_client) against a fake server that misbehaves."""

from __future__ import annotations

import array
import fcntl
import os
import shutil
import signal
import socket
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.cli import cmd_client, cmd_server
from cove.cli import cmd_wire as wire

LOST = b"Error: the cove command server went away while running this command\n"

Peer = Callable[[socket.socket], None]
Serve = Callable[..., int | None]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Run ``cmd_client.run`` against a listening socket whose one connection ``peer`` handles."""
    directory = tempfile.mkdtemp(prefix="cmdc-", dir="/tmp")  # short: a socket path has 108 bytes
    monkeypatch.setenv("COVE_RUNTIME_DIR", directory)
    monkeypatch.setenv("COVE_COMMAND_SERVER", "1")
    saved = {sig: signal.getsignal(sig) for sig in (*cmd_client.FORWARDED, signal.SIGTSTP)}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(wire.paths(os.environ).socket)
    listener.listen(1)
    threads: list[threading.Thread] = []

    def run(peer: Peer, start_server: Callable[[wire.Paths], None] = cmd_client.start_server) -> int | None:
        def accept() -> None:
            conn, _ = listener.accept()
            with conn:
                peer(conn)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        threads.append(thread)
        return cmd_client.run(["ps"], start_server)

    try:
        yield run
    finally:
        for thread in threads:
            thread.join(timeout=10)
        listener.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        shutil.rmtree(directory)


def _queued(conn: socket.socket) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(conn.fileno(), termios.FIONREAD, count)
    return count[0]


def _take_request(conn: socket.socket) -> None:
    _payload, fds = cmd_server.receive_message(conn, 3)
    for fd in fds:
        os.close(fd)


def reset_with_the_request_unread(conn: socket.socket) -> None:
    """A server killed before it took the request: closing a unix socket with data still queued
    resets the peer (ECONNRESET), as a connection still in a dead listener's backlog does."""
    length = int.from_bytes(conn.recv(wire.HEADER_SIZE, socket.MSG_PEEK), "big")
    deadline = time.monotonic() + 10
    while _queued(conn) < wire.HEADER_SIZE + length and time.monotonic() < deadline:
        time.sleep(0.01)


def closed_after_the_request(conn: socket.socket) -> None:
    _take_request(conn)


def replies(*lines: bytes) -> Peer:
    def peer(conn: socket.socket) -> None:
        _take_request(conn)
        conn.sendall(b"".join(lines))

    return peer


def test_a_reset_connection_is_a_lost_server(serve: Serve, capfd: pytest.CaptureFixture[str]) -> None:
    assert serve(reset_with_the_request_unread) == 125
    assert capfd.readouterr().err.encode() == LOST


@pytest.mark.parametrize(
    "peer",
    [
        closed_after_the_request,
        replies(b"exi"),  # cut short
        replies(b"exit seven\n"),
        replies(b"exit 300\n"),
        replies(b"exit -1\n"),
        replies(b"signal 0\n"),
        replies(b"signal 99999999999999999999\n"),
    ],
    ids=["closed", "cut-short", "not-a-number", "over-255", "negative", "signal-0", "huge-signal"],
)
def test_no_reply_or_a_garbled_one_is_a_lost_server(
    serve: Serve, capfd: pytest.CaptureFixture[str], peer: Peer
) -> None:
    assert serve(peer) == 125
    assert capfd.readouterr().err.encode() == LOST


def test_the_commands_exit_code(serve: Serve, capfd: pytest.CaptureFixture[str]) -> None:
    assert serve(replies(b"unknown line\n", b"exit 7\n")) == 7
    assert capfd.readouterr().err == ""


def test_a_stale_server_lets_the_client_run_the_command(serve: Serve) -> None:
    started: list[wire.Paths] = []
    assert serve(replies(b"stale\n"), started.append) is None
    assert len(started) == 1


def test_no_server_lets_the_client_run_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COVE_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("COVE_COMMAND_SERVER", "1")
    started: list[wire.Paths] = []
    assert cmd_client.run(["ps"], started.append) is None
    assert len(started) == 1

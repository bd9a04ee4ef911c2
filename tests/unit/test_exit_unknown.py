"""An exit code nobody saw stays unknown: the status record, and an attach stream cut short."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.cli.attach import StreamCut, stream
from cove.containers.state import MONITOR_LOST, Status, read_state
from cove.engine.attach import AttachStream, Output, OutputStream
from cove.monitor import protocol as p
from cove.monitor.client import Attachment


def _state(tmp_path: Path, **fields: object) -> Path:
    (tmp_path / "state.json").write_text(json.dumps(fields))
    return tmp_path


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_running_record_without_monitor_or_init_is_an_unknown_exit(tmp_path: Path) -> None:
    status = read_state(_state(tmp_path, status="running", pid=_dead_pid(), pid_start=1, exit_code=0))
    assert (status.status, status.exit_code, status.reported_exit_code) == (Status.EXITED, None, -1)
    assert status.error == MONITOR_LOST
    assert not status.running


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ({"exit_code": 3}, 3),
        ({}, 0),
        ({"exit_code": None}, None),
        ({"exit_code": "3"}, None),
        ({"exit_code": True}, None),
    ],
)
def test_a_recorded_exit_code(tmp_path: Path, recorded: dict[str, object], expected: int | None) -> None:
    assert read_state(_state(tmp_path, status="exited", **recorded)).exit_code == expected


@dataclass
class Attached:
    attachment: AttachStream
    monitor: socket.socket  # the monitor's end
    out: tuple[int, int]  # stdout's pipe (read, write)
    err: tuple[int, int]

    def stream(self) -> int | None:
        return stream(self.attachment, stdin=False, tty=False, stdout_fd=self.out[1], stderr_fd=self.err[1])


@pytest.fixture
def attached() -> Iterator[Attached]:
    ours, monitor = socket.socketpair()
    a = Attached(AttachStream(Attachment(ours, Status.RUNNING)), monitor, os.pipe(), os.pipe())
    for fd in (a.out[0], a.err[0]):
        os.set_blocking(fd, False)  # a check of output that is not there fails, not hangs
    yield a
    for fd in (*a.out, *a.err):
        os.close(fd)
    ours.close()
    monitor.close()


def test_the_exit_frame_gives_the_code(attached: Attached) -> None:
    attached.monitor.sendall(p.frame(p.STDOUT, b"hi\n") + p.frame(p.EXIT, b'{"exit_code": 7}'))
    assert attached.stream() == 7
    assert os.read(attached.out[0], 100) == b"hi\n"


@pytest.mark.parametrize(
    "ending",
    [
        b"",  # the monitor died: end of stream
        p.frame(p.EXIT, b'{"exit_code": null}'),  # nothing to give
        p.frame(p.EXIT, b"not json"),
        p.frame(p.EXIT, b'{"exit_code": "7"}'),
        p.frame(p.EXIT, b"[7]"),
    ],
    ids=["eof", "null", "not-json", "string", "list"],
)
def test_a_stream_without_an_exit_code_is_cut(attached: Attached, ending: bytes) -> None:
    attached.monitor.sendall(p.frame(p.STDERR, b"partial output\n") + ending)
    attached.monitor.shutdown(socket.SHUT_WR)
    with pytest.raises(StreamCut):
        attached.stream()
    assert os.read(attached.err[0], 100) == b"partial output\n"


def test_a_stream_that_breaks_the_framing_is_cut(attached: Attached) -> None:
    attached.monitor.sendall(p.HEADER.pack(p.STDOUT, p.MAX_FRAME + 1))
    with pytest.raises(StreamCut):
        attached.stream()


def test_the_stream_gives_typed_output_and_reads_past_empty_frames(attached: Attached) -> None:
    attached.monitor.sendall(p.frame(p.STDOUT, b""))
    attached.monitor.sendall(p.frame(p.STDERR, b"oops\n") + p.frame(p.STDOUT, b"out\n"))
    assert attached.attachment.read() == [
        Output(OutputStream.STDERR, b"oops\n"),
        Output(OutputStream.STDOUT, b"out\n"),
    ]
    attached.monitor.sendall(p.frame(p.EXIT, b'{"exit_code": 0}'))
    assert attached.attachment.read() == []
    assert attached.attachment.ended and attached.attachment.exit_code == 0


def test_an_exit_frame_alone_is_the_end_not_a_cut(attached: Attached) -> None:
    attached.monitor.sendall(p.frame(p.EXIT, b'{"exit_code": 4}'))
    assert attached.stream() == 4

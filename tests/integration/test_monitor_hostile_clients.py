"""A real container's monitor, sent truncated, oversized and ill-typed frames and requests: each
gets an error (or is just let go), and the monitor goes on supervising. Before, a 2-byte RESIZE
payload or ``"signal": "x"`` killed it: the container ran on unsupervised (no logs, no restart
policy, no health checks) and an attached client was told exit code 0."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import time
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until

# Exits 7 on SIGTERM (within a tick), and logs a line every tick until then.
TICKER = "trap 'exit 7' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"

HEADER = struct.Struct(">BI")
STDIN, RESIZE = 0, 4
ATTACH = b'{"op": "attach", "stdin": true, "stdout": true, "stderr": true}\n'

# (name, what is sent, what comes back: "reply" an error line, "frame" an error frame, None nothing)
HOSTILE: list[tuple[str, bytes, str | None]] = [
    ("resize with a 2-byte payload", ATTACH + HEADER.pack(RESIZE, 2) + b"\x00\x18", "frame"),
    ("resize with 3 bytes", ATTACH + HEADER.pack(RESIZE, 3) + b"\x00\x18\x00", "frame"),
    ("a huge length header", ATTACH + HEADER.pack(STDIN, 0xFFFFFFFF), "frame"),
    ("a frame type only the monitor sends", ATTACH + HEADER.pack(3, 2) + b"{}", "frame"),
    ("a line that is not JSON", b"hello monitor\n", "reply"),
    ("JSON that is not an object", b'["attach"]\n', "reply"),
    ("an unknown op", b'{"op": "exec", "argv": ["sh"]}\n', "reply"),
    ("a signal that is a string", b'{"op": "kill", "signal": "x"}\n', "reply"),
    ("a signal out of range", b'{"op": "kill", "signal": 1000}\n', "reply"),
    ("a stop whose signal is a string", b'{"op": "stop", "signal": "x"}\n', "reply"),
    ("a grace that is not a number", b'{"op": "stop", "grace": "forever"}\n', "reply"),
    ("a tty_size that is a string", b'{"op": "attach", "tty_size": "24x80"}\n', "reply"),
    ("a tty_size of three numbers", b'{"op": "attach", "tty_size": [1, 2, 3]}\n', "reply"),
    ("a tty_size out of range", b'{"op": "attach", "tty_size": [24, 99999999]}\n', "reply"),
    ("a flag that is a number", b'{"op": "attach", "stdin": 1}\n', "reply"),
    ("an over-long line", b'{"op": "wait", "x": "' + b"x" * 100_000, "reply"),
    ("a truncated request, then EOF", b'{"op": "sto', None),
    ("a frame before any request", HEADER.pack(STDIN, 2) + b"hi", None),  # (a line never ended)
    ("a frame before any request, then a newline", HEADER.pack(STDIN, 2) + b"hi\n", "reply"),
]


def monitor_pid(cove: CoveRunner, cid: str) -> int:
    state = json.loads((cove.root / "containers" / cid / "state.json").read_text())
    return int(state["monitor_pid"])


def lean(pid: int) -> bool:
    try:
        return b"monitor/main.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def send(socket_path: Path, data: bytes) -> bytes:
    """Send ``data`` as one client (then close our side), and read what the monitor answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(socket_path))
        with contextlib.suppress(BrokenPipeError):  # (it may answer before it read all of a long line)
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def error_of(answer: bytes, kind: str) -> str:
    if kind == "reply":
        reply = json.loads(answer.splitlines()[0])
        assert reply["ok"] is False
        return str(reply["error"])
    # An attach: its hello, then an ERROR frame (type 6).
    hello, _, frames = answer.partition(b"\n")
    assert json.loads(hello)["ok"] is True
    kind_, length = HEADER.unpack_from(frames)
    assert kind_ == 6
    return str(json.loads(frames[HEADER.size : HEADER.size + length])["error"])


def log_lines(cove: CoveRunner, cid: str) -> int:
    return len((cove.root / "containers" / cid / f"{cid}-json.log").read_bytes().splitlines())


@pytest.mark.slow
def test_hostile_clients_do_not_kill_the_monitor(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "--name", "target", "busybox", "sh", "-c", TICKER).out.strip()
    socket_path = cove.runtime_dir / "s" / cid[:16]
    wait_until(lambda: lean(monitor_pid(cove, cid)))  # the long-lived monitor, not its fork
    pid = monitor_pid(cove, cid)
    waiter = cove.popen("wait", "target", stdout=-1, stderr=-1)  # waiting through it all
    try:
        for name, data, kind in HOSTILE:
            answer = send(socket_path, data)
            time.sleep(0.05)  # (a monitor that dies of it takes moments to go)
            assert lean(pid) and monitor_pid(cove, cid) == pid, f"the monitor died of {name}"
            if kind is None:
                assert answer == b"", name
            else:
                assert answer, name
                assert error_of(answer, kind), name
        # Still supervised: the record is its live monitor's, and the log still grows.
        state = json.loads(cove("inspect", "--format", "{{json .State}}", "target").out)
        assert (state["Status"], state["Error"]) == ("running", "")
        before = log_lines(cove, cid)
        wait_until(lambda: log_lines(cove, cid) > before + 3)
        # A good client is still served after the bad ones.
        assert cove("pause", "target").rc == 0
        assert cove("unpause", "target").rc == 0
        cove("stop", "-t", "10", "target")
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, out.strip(), err) == (0, b"7", b"")
    assert cove("wait", "target").out.strip() == "7"
    assert cove("inspect", "--format", "{{.State.ExitCode}}", "target").out.strip() == "7"
    assert not os.path.exists(f"/proc/{pid}") or not lean(pid)  # it left once the container ended


@pytest.mark.parametrize("size", ["[0, 0]", "[65535, 65535]"])
def test_an_attach_at_the_edges_of_the_terminal_size_is_served(cove_busybox: CoveRunner, size: str) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "-t", "busybox", "sleep", "300").out.strip()
    socket_path = cove.runtime_dir / "s" / cid[:16]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(socket_path))
        sock.sendall(b'{"op": "attach", "tty_size": ' + size.encode() + b"}\n")
        hello = b""
        while not hello.endswith(b"\n"):
            hello += sock.recv(1)
        assert json.loads(hello)["ok"] is True
        sock.sendall(HEADER.pack(RESIZE, 4) + struct.pack(">HH", 50, 132))
        time.sleep(0.2)
    assert cove("inspect", "--format", "{{.State.Status}}", cid).out.strip() == "running"
    cove("rm", "-f", cid)

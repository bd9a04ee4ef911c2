"""The monitor's wire protocol (request lines, attach frames) and the state file's I/O."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.containers import state
from cove.monitor import protocol as p
from cove.oci.timestamps import timestamp

# -- request lines --------------------------------------------------------------------------


def test_request_line_is_one_json_object_with_op_first() -> None:
    line = p.request_line("attach", stdin=True, stdout=False, stream="x")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == {"op": "attach", "stdin": True, "stdout": False, "stream": "x"}
    assert list(json.loads(line)) == ["op", "stdin", "stdout", "stream"]


def test_request_line_stays_one_line_when_fields_hold_newlines() -> None:
    line = p.request_line("exec", argv=["sh", "-c", "echo a\necho b"], note="é\r\n\x00")
    assert line.count(b"\n") == 1
    assert json.loads(line)["argv"][2] == "echo a\necho b"
    assert json.loads(line)["note"] == "é\r\n\x00"


def test_request_line_without_fields() -> None:
    assert json.loads(p.request_line("stop")) == {"op": "stop"}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_recv_line_reads_one_request_line(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(p.request_line("wait", condition="not-running"))
    line = p.recv_line(server)
    assert json.loads(line) == {"op": "wait", "condition": "not-running"}


def test_recv_line_leaves_what_follows_the_line_in_the_socket(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # An attach client sends its request line and its first frames in one go: reading the
    # line must not swallow the start of the frames.
    client, server = pair
    frames = p.frame(p.STDIN, b"echo hi\n") + p.resize_frame(24, 80)
    client.sendall(p.request_line("attach", stdin=True) + frames)
    assert json.loads(p.recv_line(server)) == {"op": "attach", "stdin": True}
    received = b""
    while len(received) < len(frames):
        received += server.recv(65536)
    assert received == frames
    assert p.FrameReader().feed(received) == [(p.STDIN, b"echo hi\n"), (p.RESIZE, struct.pack(">HH", 24, 80))]


def test_recv_line_reads_successive_lines(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(b'{"a": 1}\n{"b": 2}\n')
    assert p.recv_line(server) == b'{"a": 1}\n'
    assert p.recv_line(server) == b'{"b": 2}\n'


def test_recv_line_waits_for_a_line_sent_in_pieces(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    line = p.request_line("logs", follow=True)

    def send_slowly() -> None:
        for i in range(0, len(line), 3):
            client.sendall(line[i : i + 3])
            time.sleep(0.001)

    sender = threading.Thread(target=send_slowly)
    sender.start()
    try:
        assert p.recv_line(server) == line
    finally:
        sender.join(5)


def test_recv_line_returns_what_there_is_at_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(b'{"op": "st')
    client.shutdown(socket.SHUT_WR)
    assert p.recv_line(server) == b'{"op": "st'
    assert p.recv_line(server) == b""


def test_recv_line_returns_empty_bytes_when_the_peer_closes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    client.close()
    assert p.recv_line(server) == b""


def test_recv_line_limit_counts_the_newline(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(b"a" * 99 + b"\n")
    assert p.recv_line(server, limit=100) == b"a" * 99 + b"\n"


def test_recv_line_rejects_a_line_longer_than_the_limit(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(b"a" * 100 + b"\n")
    with pytest.raises(ValueError, match="too long"):
        p.recv_line(server, limit=100)


def test_recv_line_stops_reading_at_the_limit_without_a_newline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # A peer that never sends a newline must not make the monitor buffer without bound.
    client, server = pair
    client.sendall(b"x" * 5000)
    with pytest.raises(ValueError):
        p.recv_line(server, limit=1000)
    # It stopped right after the limit: the rest is still unread.
    server.setblocking(False)
    rest = b""
    try:
        while True:
            chunk = server.recv(65536)
            if not chunk:
                break
            rest += chunk
    except BlockingIOError:
        pass
    assert len(rest) == 5000 - 1001


# -- frames ----------------------------------------------------------------------------------


def test_frame_layout() -> None:
    assert p.frame(p.STDOUT, b"hi") == b"\x01\x00\x00\x00\x02hi"
    assert p.frame(p.CLOSE_STDIN, b"") == b"\x05\x00\x00\x00\x00"
    assert p.HEADER.size == 5


def test_stream_ids_are_distinct() -> None:
    ids = [p.STDIN, p.STDOUT, p.STDERR, p.EXIT, p.RESIZE, p.CLOSE_STDIN]
    assert len(set(ids)) == len(ids)
    assert (p.STDIN, p.STDOUT, p.STDERR) == (0, 1, 2)  # as Docker's stdcopy numbers them


def test_reader_yields_nothing_for_a_partial_header() -> None:
    reader = p.FrameReader()
    data = p.frame(p.STDOUT, b"hello")
    assert reader.feed(data[:3]) == []
    assert reader.feed(data[3:4]) == []
    assert reader.feed(data[4:]) == [(p.STDOUT, b"hello")]
    assert reader.buffer == b""


def test_reader_waits_for_the_whole_payload() -> None:
    reader = p.FrameReader()
    data = p.frame(p.STDERR, b"0123456789")
    assert reader.feed(data[:8]) == []
    assert reader.feed(data[8:14]) == []
    assert reader.feed(data[14:]) == [(p.STDERR, b"0123456789")]


def test_reader_handles_byte_at_a_time_input() -> None:
    stream = p.frame(p.STDOUT, b"out") + p.frame(p.STDERR, b"err") + p.frame(p.CLOSE_STDIN, b"")
    reader = p.FrameReader()
    got = []
    for i in range(len(stream)):
        got += reader.feed(stream[i : i + 1])
    assert got == [(p.STDOUT, b"out"), (p.STDERR, b"err"), (p.CLOSE_STDIN, b"")]
    assert reader.buffer == b""


def test_reader_yields_several_frames_from_one_chunk_and_keeps_the_rest() -> None:
    reader = p.FrameReader()
    exit_payload = json.dumps({"ExitCode": 3}).encode()
    whole = p.frame(p.STDOUT, b"a") + p.frame(p.STDERR, b"bb") + p.frame(p.EXIT, exit_payload)
    tail = p.frame(p.STDOUT, b"later")
    assert reader.feed(whole + tail[:7]) == [(p.STDOUT, b"a"), (p.STDERR, b"bb"), (p.EXIT, exit_payload)]
    assert bytes(reader.buffer) == tail[:7]
    assert reader.feed(tail[7:]) == [(p.STDOUT, b"later")]


def test_reader_keeps_stream_ids_and_order() -> None:
    kinds = [p.STDIN, p.STDOUT, p.STDERR, p.EXIT, p.RESIZE, p.CLOSE_STDIN, 200, 255]
    stream = b"".join(p.frame(kind, bytes([kind]) * kind) for kind in kinds)
    frames = p.FrameReader().feed(stream)
    assert [kind for kind, _ in frames] == kinds
    assert [payload for _, payload in frames] == [bytes([kind]) * kind for kind in kinds]


def test_reader_zero_length_frames() -> None:
    reader = p.FrameReader()
    assert reader.feed(p.frame(p.CLOSE_STDIN, b"") * 3) == [(p.CLOSE_STDIN, b"")] * 3


def test_reader_payloads_are_copies() -> None:
    reader = p.FrameReader()
    [(_, payload)] = reader.feed(p.frame(p.STDOUT, b"first"))
    reader.feed(p.frame(p.STDOUT, b"XXXXXXXXXXXX")[:8])
    assert payload == b"first"
    assert isinstance(payload, bytes)


def test_reader_large_payload_in_chunks() -> None:
    payload = os.urandom(p.MAX_FRAME)  # the largest allowed frame
    stream = p.frame(p.STDOUT, payload) + p.frame(p.STDERR, b"after")
    reader = p.FrameReader()
    got = []
    for i in range(0, len(stream), 4093):  # chunks that do not line up with the frames
        got += reader.feed(stream[i : i + 4093])
    assert len(got) == 2
    assert got[0][0] == p.STDOUT
    assert got[0][1] == payload
    assert got[1] == (p.STDERR, b"after")
    assert reader.buffer == b""


def test_reader_rejects_an_oversized_frame_from_its_header() -> None:
    # The header alone is enough to refuse: the reader must not buffer megabytes first.
    reader = p.FrameReader()
    with pytest.raises(ValueError, match="too large"):
        reader.feed(p.HEADER.pack(p.STDIN, p.MAX_FRAME + 1))


def test_reader_rejects_a_garbage_length() -> None:
    with pytest.raises(ValueError):
        p.FrameReader().feed(b"\x00\xff\xff\xff\xffrest")


def test_frames_over_a_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    payloads = [os.urandom(n) for n in (0, 1, 1000, 70_000, 300_000)]
    stream = b"".join(p.frame(p.STDOUT if i % 2 else p.STDERR, data) for i, data in enumerate(payloads))

    sender = threading.Thread(target=client.sendall, args=(stream,))
    sender.start()
    reader = p.FrameReader()
    got: list[tuple[int, bytes]] = []
    try:
        while len(got) < len(payloads):
            chunk = server.recv(8192)
            assert chunk, "the peer closed early"
            got += reader.feed(chunk)
    finally:
        sender.join(5)
    assert got == [(p.STDOUT if i % 2 else p.STDERR, data) for i, data in enumerate(payloads)]


@pytest.mark.parametrize(("rows", "cols"), [(24, 80), (0, 0), (1, 65535), (65535, 1)])
def test_resize_round_trip(rows: int, cols: int) -> None:
    [(kind, payload)] = p.FrameReader().feed(p.resize_frame(rows, cols))
    assert kind == p.RESIZE
    assert len(payload) == 4
    assert p.parse_resize(payload) == p.TtySize(rows, cols)


@pytest.mark.parametrize(
    "payload", [b"", b"\x00\x18", b"\x00\x18\x00", struct.pack(">HH", 50, 132) + b"junk"]
)
def test_parse_resize_refuses_a_payload_of_the_wrong_size(payload: bytes) -> None:
    # A 2-byte payload once raised struct.error out of the monitor's loop: the monitor died
    # and its container ran unsupervised. It is a protocol error now, answered and dropped.
    with pytest.raises(p.ProtocolError, match="resize frame holds 4 bytes"):
        p.parse_resize(payload)


# -- state.json ------------------------------------------------------------------------------


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = {
        "status": "running",
        "pid": 1234,
        "started_at": "2024-05-01T10:00:00.123456789Z",
        "health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
        "name": "ünïcode",
    }
    state.write_record(path, data)
    assert state.read_record(path) == data


def test_read_state_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert state.read_record(tmp_path / "nope.json") == {}
    assert state.read_record(tmp_path / "no-dir" / "state.json") == {}


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"status": "runn', b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null", b"42"],
)
def test_read_state_of_a_corrupt_or_foreign_file_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    assert state.read_record(path) == {}


def test_read_state_of_a_directory_is_empty(tmp_path: Path) -> None:
    assert state.read_record(tmp_path) == {}


def test_write_state_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state.write_record(path, {"status": "created"})
    state.write_record(path, {"status": "exited", "exit_code": 1})
    assert state.read_record(path) == {"status": "exited", "exit_code": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_state_swaps_in_a_new_file(tmp_path: Path) -> None:
    # Atomic: a reader that opened the old file keeps reading the whole old state, never a
    # file truncated under it.
    path = tmp_path / "state.json"
    state.write_record(path, {"status": "running", "pid": 1})
    with open(path) as old:
        inode = os.fstat(old.fileno()).st_ino
        state.write_record(path, {"status": "exited", "pid": 0})
        assert json.load(old) == {"status": "running", "pid": 1}
    assert path.stat().st_ino != inode
    assert state.read_record(path) == {"status": "exited", "pid": 0}


def test_a_failed_write_keeps_the_old_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state.write_record(path, {"status": "running"})
    with pytest.raises(TypeError):
        state.write_record(path, {"status": "exited", "bad": object()})
    assert state.read_record(path) == {"status": "running"}
    state.write_record(path, {"status": "exited"})
    assert state.read_record(path) == {"status": "exited"}


def test_readers_never_see_a_partial_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    big = {"status": "running", "padding": "x" * 200_000}
    state.write_record(path, {**big, "n": -1})
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set():
                state.write_record(path, {**big, "n": n})
                n += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = set()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            data = state.read_record(path)
            assert data.get("status") == "running", "a reader saw a missing or partial state.json"
            assert len(data["padding"]) == 200_000
            seen.add(data["n"])
    finally:
        stop.set()
        thread.join(5)
    assert not errors
    assert len(seen) > 1, "the writer never got to write"


# -- times -----------------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_now_rfc3339_is_utc_and_now() -> None:
    before = time.time()
    text = state.now_rfc3339()
    after = time.time()
    assert RFC3339.match(text), text
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(before)))
    whole_after = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(after)))
    assert text[:19] in (whole, whole_after)


def test_now_rfc3339_keeps_nanoseconds() -> None:
    assert state.now_rfc3339(lambda: 1_714_557_600_123_456_789) == "2024-05-01T10:00:00.123456789Z"


def test_now_rfc3339_pads_small_fractions() -> None:
    assert state.now_rfc3339(lambda: 1_714_557_600_000_000_001) == "2024-05-01T10:00:00.000000001Z"


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        # Go's RFC3339Nano (how Docker marshals StartedAt and FinishedAt) trims trailing
        # zeros of the fraction, and drops the fraction of a whole second.
        (1_714_557_600_120_000_000, "2024-05-01T10:00:00.12Z"),
        (1_714_557_600_000_000_000, "2024-05-01T10:00:00Z"),
    ],
)
def test_now_rfc3339_trims_trailing_zeros_like_rfc3339nano(ns: int, text: str) -> None:
    assert state.now_rfc3339(lambda: ns) == text


@pytest.mark.parametrize(
    "ns",
    [
        1_714_557_600_000_000_000,
        1_714_557_600_120_000_000,
        1_714_557_600_000_000_001,
        1_714_557_600_999_999_999,
    ],
)
def test_now_rfc3339_is_read_back_by_the_timestamp_parser(ns: int) -> None:
    # The readers of StartedAt / FinishedAt / health log times (ps, inspect, filters) parse
    # with cove.oci.timestamps, which must take the trimmed forms too.
    text = state.now_rfc3339(lambda: ns)
    assert RFC3339.match(text), text
    assert timestamp(text) == pytest.approx(ns / 1e9, abs=1e-6)

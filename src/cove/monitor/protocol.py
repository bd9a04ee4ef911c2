"""The monitor's socket protocol: one JSON request line, then frames or one JSON reply.

Frames are ``type (1 byte) | length (4 bytes, big endian) | payload``, as Docker's stdcopy
multiplexes streams. Attach clients send STDIN, RESIZE and CLOSE_STDIN frames; the monitor
sends STDOUT, STDERR and finally EXIT (JSON payload).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
EXIT = 3
RESIZE = 4
CLOSE_STDIN = 5

HEADER = struct.Struct(">BI")
MAX_FRAME = 1 << 20


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, struct.pack(">HH", rows, cols))


def parse_resize(payload: bytes) -> tuple[int, int]:
    rows, cols = struct.unpack(">HH", payload[:4])
    return rows, cols


def request_line(op: str, **fields: Any) -> bytes:
    return (json.dumps({"op": op, **fields}) + "\n").encode()


class FrameReader:
    """Accumulates bytes and yields complete frames."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self.buffer)
            if length > MAX_FRAME:
                raise ValueError("frame too large")
            if len(self.buffer) < HEADER.size + length:
                break
            out.append((kind, bytes(self.buffer[HEADER.size : HEADER.size + length])))
            del self.buffer[: HEADER.size + length]
        return out


def recv_line(sock: socket.socket, limit: int = 65536) -> bytes:
    """Read one newline-terminated line from a blocking socket."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("line too long")
    return bytes(data)

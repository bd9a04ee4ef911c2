"""The monitor's socket protocol: one JSON request line, then frames or one JSON reply.

Frames are ``type (1 byte) | length (4 bytes, big endian) | payload``, as Docker's stdcopy
multiplexes streams. Attach clients send STDIN, RESIZE and CLOSE_STDIN frames; the monitor
sends STDOUT, STDERR and finally EXIT (JSON payload), or ERROR when the client broke the
protocol.

Requests and replies are dataclasses, checked on receipt: a line that is not one JSON
object, an unknown op, a field of the wrong type or out of bounds raises ProtocolError
(the monitor answers it with an error and drops that client; it never dies of it).
"""

from __future__ import annotations

import enum
import json
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from cove.containers.state import ContainerState, Status

STDIN = 0
STDOUT = 1
STDERR = 2
EXIT = 3
RESIZE = 4
CLOSE_STDIN = 5
ERROR = 6
CLIENT_FRAMES = frozenset({STDIN, RESIZE, CLOSE_STDIN})

HEADER = struct.Struct(">BI")
RESIZE_PAYLOAD = struct.Struct(">HH")
MAX_FRAME = 1 << 20
MAX_LINE = 64 << 10
MAX_SIGNAL = 64  # SIGRTMAX on Linux
MAX_GRACE = float(1 << 31)  # seconds (Docker's stop timeout is an int32)
MAX_ERROR = 8 << 10


class ProtocolError(ValueError):
    """A frame, request or reply that breaks the protocol."""


# -- frames -----------------------------------------------------------------------------------


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


@dataclass(frozen=True)
class TtySize:
    rows: int
    cols: int

    def __post_init__(self) -> None:
        for value in (self.rows, self.cols):
            if not _is_int(value) or not 0 <= value <= 0xFFFF:
                raise ProtocolError(f"a terminal size is two integers from 0 to 65535, not {value!r}")

    @classmethod
    def from_json(cls, value: Any) -> TtySize:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ProtocolError(f"tty_size is [rows, cols], not {_show(value)}")
        return cls(value[0], value[1])

    def to_json(self) -> list[int]:
        return [self.rows, self.cols]


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, RESIZE_PAYLOAD.pack(rows, cols))


def parse_resize(payload: bytes) -> TtySize:
    if len(payload) != RESIZE_PAYLOAD.size:
        raise ProtocolError(f"a resize frame holds {RESIZE_PAYLOAD.size} bytes, not {len(payload)}")
    rows, cols = RESIZE_PAYLOAD.unpack(payload)
    return TtySize(rows, cols)


def exit_frame(exit_code: int | None) -> bytes:
    return frame(EXIT, json.dumps({"exit_code": exit_code}).encode())


def parse_exit(payload: bytes) -> int | None:
    """The exit code an EXIT frame carries; None when it has none (or is not one)."""
    try:
        code = json.loads(payload).get("exit_code")
    except (ValueError, AttributeError):
        return None
    return code if _is_int(code) else None


def error_frame(message: str) -> bytes:
    return frame(ERROR, json.dumps({"error": message[:MAX_ERROR]}).encode())


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
                raise ProtocolError("frame too large")
            if len(self.buffer) < HEADER.size + length:
                break
            out.append((kind, bytes(self.buffer[HEADER.size : HEADER.size + length])))
            del self.buffer[: HEADER.size + length]
        return out


# -- requests -----------------------------------------------------------------------------------


class Op(enum.Enum):
    ATTACH = "attach"
    STOP = "stop"
    KILL = "kill"
    WAIT = "wait"
    STATE = "state"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    START_FAILED = "start-failed"


@dataclass(frozen=True)
class Attach:
    op: ClassVar[Op] = Op.ATTACH
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    remove: bool = False  # this client removes a --rm container itself when it ends
    tty_size: TtySize | None = None

    def wants(self, stream: str) -> bool:
        return self.stdout if stream == "stdout" else self.stderr

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stdin": self.stdin,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "remove": self.remove,
        }
        if self.tty_size is not None:
            out["tty_size"] = self.tty_size.to_json()
        return out


@dataclass(frozen=True)
class Stop:
    op: ClassVar[Op] = Op.STOP
    signal: int | None = None  # None: the container's stop signal
    grace: float | None = None  # seconds before SIGKILL; None: the container's stop timeout

    def fields(self) -> dict[str, Any]:
        return {"signal": self.signal, "grace": self.grace}


@dataclass(frozen=True)
class Kill:
    op: ClassVar[Op] = Op.KILL
    signal: int | None = None  # None: SIGKILL

    def fields(self) -> dict[str, Any]:
        return {"signal": self.signal}


@dataclass(frozen=True)
class Wait:
    op: ClassVar[Op] = Op.WAIT

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class GetState:
    op: ClassVar[Op] = Op.STATE

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Pause:
    op: ClassVar[Op] = Op.PAUSE

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Unpause:
    op: ClassVar[Op] = Op.UNPAUSE

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class StartFailed:
    """After a failed first start: why, as cove explains it from the container's files
    (126, 127...), for the monitor to record before it leaves."""

    op: ClassVar[Op] = Op.START_FAILED
    error: str
    exit_code: int

    def fields(self) -> dict[str, Any]:
        return {"error": self.error, "exit_code": self.exit_code}


Request = Attach | Stop | Kill | Wait | GetState | Pause | Unpause | StartFailed


def request_line(op: str, **fields: Any) -> bytes:
    return (json.dumps({"op": op, **fields}) + "\n").encode()


def encode_request(request: Request) -> bytes:
    return request_line(request.op.value, **request.fields())


def parse_request(line: bytes) -> Request:
    """The request a line holds; ProtocolError for anything else."""
    body = _object(line, "request")
    try:
        op = Op(body.get("op"))
    except (ValueError, TypeError):
        raise ProtocolError(f"unknown request {_show(body.get('op'))}") from None
    if op == Op.ATTACH:
        size = body.get("tty_size")
        return Attach(
            stdin=_flag(body, "stdin", False),
            stdout=_flag(body, "stdout", True),
            stderr=_flag(body, "stderr", True),
            remove=_flag(body, "remove", False),
            tty_size=None if size is None else TtySize.from_json(size),
        )
    if op == Op.STOP:
        return Stop(signal=_signal(body), grace=_grace(body))
    if op == Op.KILL:
        return Kill(signal=_signal(body))
    if op == Op.START_FAILED:
        error, code = body.get("error"), body.get("exit_code")
        if not isinstance(error, str) or not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError("start-failed needs an error text and an exit code")
        if not 0 <= code <= 255:
            raise ProtocolError(f"an exit code is from 0 to 255, not {code}")
        return StartFailed(error[:MAX_ERROR], code)
    if op == Op.WAIT:
        return Wait()
    if op == Op.STATE:
        return GetState()
    if op == Op.PAUSE:
        return Pause()
    return Unpause()


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{key} is true or false, not {_show(value)}")
    return value


def _signal(body: dict[str, Any]) -> int | None:
    value = body.get("signal")
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= MAX_SIGNAL:
        raise ProtocolError(f"signal is a number from 1 to {MAX_SIGNAL}, not {_show(value)}")
    return int(value)


def _grace(body: dict[str, Any]) -> float | None:
    value = body.get("grace")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"grace is a number of seconds, not {_show(value)}")
    if not math.isfinite(value) or not 0 <= value <= MAX_GRACE:
        raise ProtocolError(f"grace is from 0 to {MAX_GRACE:g} seconds, not {value!r}")
    return float(value)


# -- replies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    ok: bool
    error: str = ""
    exit_code: int | None = None  # stop and wait: the exit (None when there is none to tell)
    status: Status | None = None  # attach: the container's status as the stream begins
    state: ContainerState | None = None  # state: the monitor's record

    def encode(self) -> bytes:
        body: dict[str, Any] = {"ok": self.ok}
        if self.error:
            body["error"] = self.error[:MAX_ERROR]
        body["exit_code"] = self.exit_code
        if self.status is not None:
            body["status"] = self.status.value
        if self.state is not None:
            body["state"] = self.state.to_json()
        return (json.dumps(body) + "\n").encode()


def parse_reply(line: bytes) -> Reply:
    body = _object(line, "reply")
    ok, error, code = body.get("ok"), body.get("error", ""), body.get("exit_code")
    if not isinstance(ok, bool) or not isinstance(error, str) or not (code is None or _is_int(code)):
        raise ProtocolError("the monitor's reply is not one")
    status = None
    if body.get("status") is not None:
        try:
            status = Status.parse(body["status"])
        except (ValueError, TypeError):
            raise ProtocolError(f"the monitor's reply names no status: {_show(body['status'])}") from None
    raw = body.get("state")
    state = ContainerState.from_json(raw) if isinstance(raw, dict) else None
    return Reply(ok, error[:MAX_ERROR], code, status, state)


# -- lines ---------------------------------------------------------------------------------------


def _object(line: bytes, what: str) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"{what} line too long")
    try:
        body = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"the {what} is not JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"the {what} is not a JSON object")
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else type(value).__name__
    return text[:40]


def recv_line(sock: socket.socket, limit: int = MAX_LINE) -> bytes:
    """Read one newline-terminated line from a blocking socket."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ProtocolError("line too long")
    return bytes(data)

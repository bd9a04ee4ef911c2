"""The command server's wire format and file names, shared by its lean client and the server.

Imported on every ``cove`` start, before anything else: standard modules written in C only
(no json, re, enum or socket module), so that the client costs next to nothing.

A request is one length header sent with the client's stdin, stdout and stderr attached
(SCM_RIGHTS), then NUL-separated fields: protocol, compatibility key, cwd, umask, rlimits,
argv and environment. The server answers with lines: ``exit N``, ``signal N`` or
``stale`` (run it yourself); the client may send ``kill N`` lines while the command runs.
"""

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # typing itself costs milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Mapping

PROTOCOL = b"cove-cmd/1"
HEADER_SIZE = 8
DEFAULT_RUNTIME_DIR = "/run/cove"
DISABLED = ("0", "false", "no", "off")


class Paths:
    __slots__ = ("lock", "log", "pid", "socket")

    def __init__(self, base: str) -> None:
        self.socket = base + ".sock"
        self.lock = base + ".lock"
        self.pid = base + ".pid"
        self.log = base + ".log"


class Request:
    __slots__ = ("argv", "cwd", "env", "key", "rlimits", "umask")

    def __init__(
        self,
        key: bytes,
        cwd: bytes,
        umask: int,
        rlimits: list[tuple[int, int, int]],
        argv: list[bytes],
        env: list[tuple[bytes, bytes]],
    ) -> None:
        self.key = key
        self.cwd = cwd
        self.umask = umask
        self.rlimits = rlimits
        self.argv = argv
        self.env = env


def compatibility_key() -> bytes:
    """Client and server must be the same interpreter and the same cove to stand in for each other."""
    import cove

    package = os.path.dirname(os.path.abspath(cove.__file__ or ""))
    return f"{sys.executable}\n{package}\n{cove.__version__}".encode()


def paths(env: Mapping[str, str]) -> Paths:
    """Where the server for this runtime directory and this installation of cove listens."""
    runtime_dir = env.get("COVE_RUNTIME_DIR") or DEFAULT_RUNTIME_DIR
    # One server per installation: two checkouts sharing a runtime directory never evict each other.
    return Paths(os.path.join(runtime_dir, f"cmd-{zlib.crc32(compatibility_key()):08x}"))


def enabled(env: Mapping[str, str]) -> bool:
    return env.get("COVE_COMMAND_SERVER", "1").strip().lower() not in DISABLED


def encode_request(request: Request) -> bytes:
    limits = b",".join(b"%d:%d:%d" % limit for limit in request.rlimits)
    fields = [
        PROTOCOL,
        request.key,
        request.cwd,
        b"%o" % request.umask,
        limits,
        b"%d" % len(request.argv),
        *request.argv,
        *(k + b"=" + v for k, v in request.env),
    ]
    return b"\0".join(fields)


def decode_request(data: bytes) -> Request:
    fields = data.split(b"\0")
    if len(fields) < 6 or fields[0] != PROTOCOL:
        raise ValueError("not a cove command request")
    _, key, cwd, umask, limits, argc = fields[:6]
    count = int(argc)
    argv = fields[6 : 6 + count]
    if len(argv) != count:
        raise ValueError("truncated command request")
    env = []
    for item in fields[6 + count :]:
        name, sep, value = item.partition(b"=")
        if sep:
            env.append((name, value))
    rlimits = []
    for limit in limits.split(b",") if limits else []:
        resource, soft, hard = limit.split(b":")
        rlimits.append((int(resource), int(soft), int(hard)))
    return Request(key, cwd, int(umask, 8), rlimits, argv, env)


def header(length: int) -> bytes:
    return length.to_bytes(HEADER_SIZE, "big")

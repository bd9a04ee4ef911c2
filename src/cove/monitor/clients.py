"""The monitor's socket: its clients, their buffers, and what they send, checked on receipt.

Each client sends one request line (a bounded JSON object, see protocol), then, when it
attached, frames. Whatever breaks the protocol (a line too long, not JSON, an unknown op, a
field of the wrong type, a frame too large or of the wrong size) gets an error reply (an
ERROR frame once the client is attached) and that client is dropped. So does an error of
the monitor's own while it handles the request: it is logged, and the monitor goes on.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cove.monitor import protocol as p

CLIENT_BUFFER_MAX = 8 << 20  # bytes of output queued for one client before it is let go
MAX_CLIENTS = 256


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.request: p.Request | None = None
        self.frames = p.FrameReader()
        self.closing = False
        self.answered = False  # a final reply (or exit frame) was queued
        self.ended = False  # it closed its side: what is queued for it is still sent

    @property
    def attached(self) -> p.Attach | None:
        return self.request if isinstance(self.request, p.Attach) else None

    def send(self, data: bytes) -> None:
        self.outbuf += data

    def reply(self, reply: p.Reply) -> None:
        self.send(reply.encode())
        self.answered = True
        self.closing = True


class Clients:
    """The listening socket and the clients connected to it."""

    def __init__(
        self,
        on_request: Callable[[Client, p.Request], None],
        on_frame: Callable[[Client, int, bytes], None],
        on_drop: Callable[[Client], None],
    ) -> None:
        self.listener: socket.socket | None = None
        self.by_fd: dict[int, Client] = {}
        self._on_request = on_request
        self._on_frame = on_frame
        self._on_drop = on_drop

    def listen(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock

    def adopt(self, fd: int) -> None:
        self.listener = socket.socket(fileno=fd)
        self.listener.setblocking(False)

    def close(self, path: Path) -> None:
        for client in list(self.by_fd.values()):
            self.drop(client)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            path.unlink(missing_ok=True)

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self.by_fd.values()))

    def __bool__(self) -> bool:
        return bool(self.by_fd)

    @property
    def read_fds(self) -> list[int]:
        fds = [fd for fd, c in self.by_fd.items() if not c.ended]
        if self.listener is not None:
            fds.append(self.listener.fileno())
        return fds

    @property
    def write_fds(self) -> list[int]:
        return [fd for fd, c in self.by_fd.items() if c.outbuf]

    def accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # (out of descriptors): the client is refused, the monitor goes on
            return
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
        except OSError:
            uid = -1
        if uid != 0 or len(self.by_fd) >= MAX_CLIENTS:
            sock.close()
            return
        sock.setblocking(False)
        self.by_fd[sock.fileno()] = Client(sock)

    def drop(self, client: Client) -> None:
        if self.by_fd.pop(client.sock.fileno(), None) is None:
            return
        try:
            self._on_drop(client)
        finally:
            client.sock.close()

    def refuse(self, client: Client, error: str) -> None:
        """Answer a client that broke the protocol, and let it go once that is sent."""
        if client.attached is not None:
            client.send(p.error_frame(error))
        else:
            client.send(p.Reply(False, error).encode())
        client.answered = True
        client.closing = True
        client.inbuf.clear()

    def readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if client.closing and client.outbuf:
                client.ended = True  # (a client that half-closed still gets its answer)
            else:
                self.drop(client)
            return
        if client.closing:
            return  # answered: what else it sends is not read
        try:
            self._receive(client, data)
        except p.ProtocolError as exc:
            self.refuse(client, f"bad request: {exc}")
        except Exception as exc:  # the monitor's own error: this client fails, the monitor goes on
            import traceback  # noqa: PLC0415 - only on the monitor's own error (it costs a lean process)

            traceback.print_exc(file=sys.stderr)
            self.refuse(client, f"the monitor could not handle the request: {exc}")

    def _receive(self, client: Client, data: bytes) -> None:
        if client.request is None:
            client.inbuf += data
            line, newline, rest = bytes(client.inbuf).partition(b"\n")
            if not newline:
                if len(client.inbuf) > p.MAX_LINE:
                    raise p.ProtocolError("request line too long")
                return
            client.inbuf.clear()
            request = p.parse_request(line)
            client.request = request
            self._on_request(client, request)
            data = rest
        if not data or client.closing:
            return
        if client.attached is None:
            raise p.ProtocolError("only an attached client sends frames")
        for kind, payload in client.frames.feed(data):
            if kind not in p.CLIENT_FRAMES:
                raise p.ProtocolError(f"a client does not send frames of type {kind}")
            self._on_frame(client, kind, payload)

    def writable(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
            del client.outbuf[:sent]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(client)
            return
        if client.closing and not client.outbuf:
            self.drop(client)

    def broadcast(self, stream: str, data: bytes) -> None:
        """Output to every attached client that wants that stream."""
        message = p.frame(p.STDOUT if stream == "stdout" else p.STDERR, data)
        for client in self:
            attach = client.attached
            if attach is not None and not client.closing and attach.wants(stream):
                client.send(message)
                if len(client.outbuf) > CLIENT_BUFFER_MAX:
                    client.closing = True

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is queued (for a short while at most), then drop those that are done."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pending = [c for c in self if c.outbuf]
            if not pending:
                break
            try:
                _, writable, _ = select.select(
                    [], [c.sock.fileno() for c in pending], [], end - time.monotonic()
                )
            except InterruptedError:
                continue
            for fd in writable:
                if fd in self.by_fd:
                    self.writable(self.by_fd[fd])
        for client in self:
            if client.closing:
                self.drop(client)

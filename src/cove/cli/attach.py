"""Streaming an attached container to this terminal: output out, keystrokes and signals in."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from cove.host import terminal

if TYPE_CHECKING:
    from cove.engine.attach import AttachStream

DEFAULT_DETACH_KEYS = b"\x10\x11"  # Ctrl-P Ctrl-Q
PROXIED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


class StreamCut(Exception):
    """The attach stream ended without the container's exit code (its monitor died, or had no
    code to give): the caller asks for the recorded one instead of assuming one."""


def parse_detach_keys(text: str | None) -> bytes:
    """Docker's --detach-keys: comma-separated ctrl-<letter> or single characters."""
    if not text:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for raw in text.split(","):
        key = raw.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            out.append(ord(key[5].lower()) & 0x1F)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise ValueError(f"invalid detach key {key!r}")
    return bytes(out)


def _scan_detach(held: bytes, data: bytes, keys: bytes) -> tuple[bytes, bytes, bool]:
    """Hold back keys that could begin the detach sequence: (to send, still held, detach?)."""
    out = bytearray()
    for byte in data:
        candidate = held + bytes([byte])
        if keys.startswith(candidate):
            if candidate == keys:
                return bytes(out), b"", True
            held = candidate
        else:
            out += candidate
            held = b""
    return bytes(out), held, False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


@contextlib.contextmanager
def _signals(handler: Callable[[int], None] | None, on_resize: Callable[[], None] | None) -> Iterator[None]:
    saved: dict[int, Any] = {}
    if handler is not None:
        for sig in PROXIED_SIGNALS:
            saved[sig] = signal.signal(sig, lambda number, _frame: handler(number))
    if on_resize is not None:
        saved[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: on_resize())
    try:
        yield
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)


def stream(
    attachment: AttachStream,
    *,
    stdin: bool,
    tty: bool,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
    proxy_signal: Callable[[int], None] | None = None,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    stderr_fd: int = 2,
) -> int | None:
    """Copy until the container exits (its exit code) or the user detaches (None); StreamCut
    when the stream ends without an exit code."""
    from cove.engine.attach import OutputStream

    interactive_tty = tty and os.isatty(stdin_fd)

    def resize() -> None:
        size = terminal.size(stdin_fd)
        if size:
            with contextlib.suppress(OSError):
                attachment.resize(*size)

    reading_stdin = stdin
    held = b""  # keys that may be the start of the detach sequence
    with (
        terminal.raw_mode(stdin_fd) if interactive_tty and stdin else contextlib.nullcontext(),
        _signals(None if tty else proxy_signal, resize if interactive_tty else None),
    ):
        if interactive_tty:
            resize()
        while True:
            watch = [attachment.fileno()] + ([stdin_fd] if reading_stdin else [])
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if reading_stdin and stdin_fd in ready:
                data = os.read(stdin_fd, 4096)
                if not data:
                    reading_stdin = False
                    with contextlib.suppress(OSError):
                        attachment.close_stdin()
                else:
                    if tty and detach_keys:
                        data, held, detach = _scan_detach(held, data, detach_keys)
                        if detach:
                            return None
                    if data:
                        with contextlib.suppress(OSError):
                            attachment.send_stdin(data)
            if attachment.fileno() in ready:
                chunks = attachment.read()
                for chunk in chunks:
                    _write_all(stderr_fd if chunk.stream is OutputStream.STDERR else stdout_fd, chunk.data)
                if attachment.ended:
                    if attachment.exit_code is None:
                        raise StreamCut()
                    return int(attachment.exit_code)
                if not chunks:
                    raise StreamCut()

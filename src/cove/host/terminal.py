"""The user's terminal: raw mode while attached, and its size."""

from __future__ import annotations

import fcntl
import struct
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager


def size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``, or None when it is not a terminal."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


@contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Keystrokes go through unprocessed (Ctrl-C included) until the block ends."""
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    tty.setraw(fd, termios.TCSADRAIN)  # TCSAFLUSH (the default) would drop keys typed ahead
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

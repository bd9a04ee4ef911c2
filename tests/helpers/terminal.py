"""Running cove in a pseudo-terminal, as a user at a terminal would."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Mapping


def pty_session(env: Mapping[str, str], *args: str) -> tuple[int, int]:
    """Start ``python -m cove ARGS`` in a pseudo-terminal; return (pid, master fd)."""
    pid, master = pty.fork()
    if pid == 0:  # the child: become cove
        os.environ.clear()
        os.environ.update(env)
        os.execv(sys.executable, [sys.executable, "-m", "cove", *args])
    return pid, master


def read_until(master: int, needle: bytes, timeout: float = 20.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"did not see {needle!r} in {data!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        data += chunk
    return data

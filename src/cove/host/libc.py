"""The C library, for the few calls Python's os module lacks (mount, prctl, inotify).

``CDLL(None)`` is the running program's own symbol table, which holds libc's on glibc and
musl alike; ``ctypes.util.find_library`` would run ``ldconfig -p`` (milliseconds) to find it.
"""

from __future__ import annotations

import ctypes
from functools import cache


@cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)

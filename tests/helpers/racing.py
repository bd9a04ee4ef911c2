"""A tree that changes under cove's feet: for tests of the path code's race guards."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def swapping(base: Path) -> Iterator[tuple[Path, Path]]:
    """(root, host): a root whose w/dir is, in turns as fast as a thread can rename, a
    directory holding keep and a link to the host directory (which holds a keep of its own),
    as the container of Docker's CVE-2018-15664 does it."""
    root, host = base / "root", base / "host"
    (root / "w" / "dir").mkdir(parents=True)
    (root / "w" / "dir" / "keep").write_text("FAKE")
    host.mkdir()
    (host / "keep").write_text("HOST")
    (root / "w" / "sym").symlink_to(host)
    stop = threading.Event()

    def swap() -> None:
        w = root / "w"
        steps = [("dir", "tmp"), ("sym", "dir"), ("dir", "sym"), ("tmp", "dir")]
        while not stop.is_set():
            for old, new in steps:
                # (code under test may make w/dir while it is away: the swaps go on as they can)
                with contextlib.suppress(OSError):
                    os.rename(w / old, w / new)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield root, host
    finally:
        stop.set()
        thread.join()

"""Directory trees deeper than Python's recursion limit or the kernel's PATH_MAX, for tests."""

from __future__ import annotations

import os
from pathlib import Path

from cove.host.trees import remove_tree

LONG = "n" * 200  # 25 levels of it make a path longer than PATH_MAX (4,096 bytes)


def deep_tree(base: Path, depth: int, name: str = "d", *, files: bool = True) -> list[str]:
    """``base/d/d/...``, ``depth`` levels deep, with a file ``f`` at every level unless not
    ``files``. Made through descriptors, so any depth works. Returns the files' paths."""
    base.mkdir(parents=True, exist_ok=True)
    made = []
    rel = ""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            if files:
                os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
                made.append(f"{rel}f")
            rel += f"{name}/"
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return made


def remove_children(directory: Path) -> None:
    """What a test left under ``directory``, removed before pytest's own cleanup of its
    tmp_path (``shutil.rmtree``, which stops at about 1,000 levels). Stores in it must have
    released their host objects first (``conftest.release_host_network``)."""
    if directory.is_dir():
        for child in directory.iterdir():
            remove_tree(child)

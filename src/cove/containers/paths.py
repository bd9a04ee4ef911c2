"""Resolving a path inside a container's root filesystem, as the container would see it.

Symbolic links are followed with the container's root as ``/`` (an absolute link target
or ``..`` never leaves the root), so reading /etc/passwd or copying files in and out never
touches the host through a link planted in the image.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cove.errors import InvalidArgument

MAX_LINKS = 40


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The host path for ``path`` in the container rooted at ``root`` (which need not exist)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        last = not parts
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
            links += 1
            if links > MAX_LINKS:
                raise InvalidArgument(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            new_parts = [p for p in target.split("/") if p not in ("", ".")]
            if target.startswith("/"):
                resolved = []
            parts = new_parts + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def read_in_root(root: Path, path: str) -> str | None:
    """A small text file of the container (e.g. /etc/passwd), or None when absent."""
    target = resolve_in_root(root, path)
    try:
        with open(target, errors="replace") as f:
            return f.read(4 << 20)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None

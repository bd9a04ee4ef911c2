"""Bind mounts at start: the host source as Docker treats it, and the kind of its mount point.

A bind of a file mounts a file, of a directory a directory. ``-v`` makes a missing source
as a directory (Docker's -v behaviour); ``--mount type=bind`` refuses one. The runtime makes
a missing mount point of the same kind as the source; one that the image (or a mount below
it) already has must be of that kind too, which is checked here so that the error names
both paths instead of the runtime's "not a directory".
"""

from __future__ import annotations

import os
import stat

from cove.containers.model import MountSpec
from cove.errors import InvalidArgument

HINT = "bind a file onto a file's path and a directory onto a directory's path"


def source_is_dir(mount: MountSpec) -> bool:
    """Whether the bind's host source is a directory, making a missing one for ``-v``."""
    if mount.create_host_path and not os.path.lexists(mount.source):
        os.makedirs(mount.source, mode=0o755, exist_ok=True)
    try:
        st = os.stat(mount.source)  # a bind follows symbolic links on the host, as mount(2) does
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidArgument(
            f'invalid mount config for type "bind": bind source path does not exist: {mount.source}'
        ) from None
    return stat.S_ISDIR(st.st_mode)


def check_mount_point(mount: MountSpec, is_dir: bool, there: os.stat_result | None) -> None:
    """``there`` is what is at ``mount.target`` before the mount (None: nothing, which the
    runtime makes of the source's kind): it must be of the source's kind."""
    if there is None or stat.S_ISDIR(there.st_mode) == is_dir:
        return
    what, found = ("directory", "a file") if is_dir else ("file", "a directory")
    raise InvalidArgument(
        f"cannot mount the {what} {mount.source} onto {mount.target}: "
        f"{mount.target} is {found} in the container",
        hint=HINT,
    )

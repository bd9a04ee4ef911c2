"""Removing directory trees of any depth, through descriptors, never following a link.

Python's ``shutil.rmtree`` recurses once per level, so a tree deeper than about a
thousand levels (an image can hold one) raises ``RecursionError``, and it keeps one
descriptor per level. Here the walk is a loop over at most :data:`OPEN_LEVELS` open
directories; a directory deeper than that is first moved up to the top of the tree being
removed (a rename inside it, so a crash leaves it where cleanup still finds it), which
keeps both the stack and the descriptors bounded whatever the depth.

A removal never crosses into another filesystem: a directory on another device under the
tree (something still mounted there, a user's directory bound in) is an error, not
something to empty.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

OPEN_LEVELS = 64
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the directory ``dir_fd``, and everything under it if it is a
    directory (a link is removed, not followed). Nothing there: nothing done."""
    try:
        top = os.open(name, _DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        os.unlink(name, dir_fd=dir_fd)  # not a directory
        return
    spilled = 0
    device = os.fstat(top).st_dev
    # (descriptor, its name in the directory above, the names in it still to remove)
    stack: list[tuple[int, str, list[str]]] = [(top, name, os.listdir(top))]
    try:
        while stack:
            fd, own_name, children = stack[-1]
            if not children:
                stack.pop()
                os.close(fd)
                os.rmdir(own_name, dir_fd=stack[-1][0] if stack else dir_fd)
                continue
            child = children.pop()
            try:
                mode = os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(mode):
                os.unlink(child, dir_fd=fd)
            elif len(stack) < OPEN_LEVELS:
                child_fd = os.open(child, _DIR, dir_fd=fd)
                if os.fstat(child_fd).st_dev != device:
                    os.close(child_fd)
                    raise OSError(errno.EXDEV, "a mount point under the tree: not removed", child)
                stack.append((child_fd, child, os.listdir(child_fd)))
            else:
                spilled += 1
                moved = f".cove-deep-{secrets.token_hex(4)}-{spilled}"
                os.rename(child, moved, src_dir_fd=fd, dst_dir_fd=stack[0][0])
                stack[0][2].append(moved)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove the file or tree at ``path`` (see :func:`remove_tree_at`)."""
    path = os.fspath(path)
    parent, base = os.path.split(path.rstrip("/") or "/")
    fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_tree_at(fd, base)
    finally:
        os.close(fd)

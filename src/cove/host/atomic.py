"""Writing an output file or directory whole or not at all.

The work goes to a hidden sibling (``.NAME.cove-XXXX``) that is renamed onto the target
when done, so a reader never sees half an archive. The sibling is flock'ed while it is
written; a later write to the same target removes siblings whose writer is gone (killed,
even with -9), so interrupted runs leave nothing behind for long.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cove.host.flush import Flush, Flusher
from cove.host.trees import remove_quietly


def _remove(path: Path) -> None:
    remove_quietly(path)  # a symlink or file is unlinked, a directory of any depth emptied first


def clean_stale(target: Path) -> None:
    """Remove leftover siblings of ``target`` that no live writer holds."""
    for sibling in target.parent.glob(f".{target.name}.cove-*"):
        try:
            fd = os.open(sibling, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # someone is still writing it
        finally:
            os.close(fd)
        _remove(sibling)


@contextmanager
def atomic_output(target: Path, *, directory: bool = False, flush: Flush | None = None) -> Iterator[Path]:
    """Yield a temporary path to fill; it replaces ``target`` when the block succeeds, once
    what it holds is on disk (and the new name after the rename)."""
    flush = flush or Flusher()
    clean_stale(target)
    tmp = target.with_name(f".{target.name}.cove-{secrets.token_hex(4)}")
    if directory:
        tmp.mkdir()
    else:
        tmp.touch(exist_ok=False)
    fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield tmp
        if directory:
            flush.filesystem(tmp)  # a whole tree: one syncfs rather than a flush per file
        else:
            flush.file(fd)  # the same file as the caller wrote, through another descriptor
        if directory and target.exists():
            target.rmdir()  # the caller checked it is empty
        os.rename(tmp, target)
        flush.directory(target.parent)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        os.close(fd)

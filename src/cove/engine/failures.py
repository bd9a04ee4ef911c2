"""What front-ends say when an engine call fails below cove's own errors: a full disk.

A full filesystem surfaces as whatever call hit it first (``os.write`` in the unpacker, a
partial download's append, SQLite's commit), often wrapped in another error, and then as
more failures while things are undone. The first one is the one that explains it, so the
chain of causes is searched from its start (the deepest ``__cause__``/``__context__``) and
the path is named in the store's terms: a download, a layer, the database.
"""

from __future__ import annotations

from pathlib import Path

from cove.errors import CoveError, NoSpace, disk_full

# Where in a store a path is, as a user would call it (the first match wins).
_AREAS = (
    ("content/ingest/partial-", "a download"),
    ("content/", "an image blob"),
    ("snapshots/", "a layer or a container's files"),
    ("containers/", "a container's files"),
    ("volumes/", "a volume"),
    ("build/", "build files"),
    ("cove.db", "the database"),
    ("tmp/", "temporary files"),
)


def what_is(path: str, root: Path | None) -> str:
    """What a path that could not be written holds, in the store's terms."""
    if root is not None:
        prefix = str(root).rstrip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix) :]
            for start, what in _AREAS:
                if rel.startswith(start):
                    return what
            return "the store"
    return "a file"


def no_space(exc: BaseException, root: Path | None) -> NoSpace | None:
    """The full disk behind ``exc``, if that is what it comes down to."""
    cause = disk_full(exc)
    if cause is None or isinstance(cause, NoSpace):
        return cause
    path = cause.filename if isinstance(cause.filename, str) else None
    if path is None:
        return NoSpace("the store" if root else "a file", root)
    return NoSpace(what_is(path, root), path)


def explain(exc: BaseException, root: Path | None) -> CoveError | None:
    """The error to report for ``exc``: a full disk as such, else ``exc`` when it is one
    of cove's errors, else None (a bug, to be reported as an internal error)."""
    full = no_space(exc, root)
    if full is not None:
        return full
    return exc if isinstance(exc, CoveError) else None

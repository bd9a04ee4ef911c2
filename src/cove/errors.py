"""The one exception tree of cove.

Every error a user can cause or meet derives from :class:`CoveError`. It carries a
:class:`Kind` (what went wrong, in terms a front-end can map: the CLI to an exit code,
the API server to an HTTP status), a message that names the problem, and an optional
hint that says how to fix it. Nothing below the CLI prints or exits; it raises these.
"""

from __future__ import annotations

import enum
import errno


class Kind(enum.Enum):
    NOT_FOUND = "not found"
    ALREADY_EXISTS = "already exists"
    INVALID_ARGUMENT = "invalid argument"
    CONFLICT = "conflict"
    FAILED_PRECONDITION = "failed precondition"
    UNAVAILABLE = "unavailable"
    PERMISSION_DENIED = "permission denied"
    NOT_IMPLEMENTED = "not implemented"
    INTERNAL = "internal"


class CoveError(Exception):
    """Base of all cove errors: a kind, a message and an optional hint."""

    kind: Kind = Kind.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(CoveError):
    kind = Kind.NOT_FOUND


class AlreadyExists(CoveError):
    kind = Kind.ALREADY_EXISTS


class InvalidArgument(CoveError):
    kind = Kind.INVALID_ARGUMENT


class Conflict(CoveError):
    kind = Kind.CONFLICT


class FailedPrecondition(CoveError):
    kind = Kind.FAILED_PRECONDITION


class Unavailable(CoveError):
    kind = Kind.UNAVAILABLE


class PermissionDenied(CoveError):
    kind = Kind.PERMISSION_DENIED


class NotImplementedYet(CoveError):
    kind = Kind.NOT_IMPLEMENTED


class InternalError(CoveError):
    kind = Kind.INTERNAL


# --- domain errors ---------------------------------------------------------------


class ImageNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"No such image: {ref}",
            hint="`cove images` lists the images in this store",
        )
        self.ref = ref


class InvalidReference(InvalidArgument):
    def __init__(self, ref: str, why: str) -> None:
        super().__init__(f'invalid reference format "{ref}": {why}')
        self.ref = ref


class DigestMismatch(InvalidArgument):
    """Content did not hash to the digest (or size) it was announced with."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")


class SizeMismatch(DigestMismatch):
    """Content whose length is not the size its descriptor gives (wrong bytes, as a digest mismatch)."""

    def __init__(self, what: str, expected: int, actual: int | str) -> None:
        InvalidArgument.__init__(
            self, f"{what}: size mismatch: its descriptor says {expected} bytes, the content has {actual}"
        )


class LayerError(InvalidArgument):
    """A layer archive that is damaged, or that tries something a layer may not do."""

    def __init__(self, message: str, *, member: str | None = None, hint: str | None = None) -> None:
        if member is not None:
            message = f"{message} (entry {member!r})"
        super().__init__(message, hint=hint)
        self.member = member


class ArchiveError(InvalidArgument):
    """An image archive (docker-archive, OCI layout) that cannot be read."""


class ExitStatusUnknown(Unavailable):
    """A container ended, or will end, with no one to collect its exit status (its monitor died):
    its exit code is unknown, and is never made up."""

    def __init__(self, name: str, *, running: bool = False) -> None:
        if running:
            message = (
                f"the monitor of container {name} died: it runs on unsupervised, "
                "and its exit code cannot be known"
            )
            hint = f"cove stop {name}"
        else:
            message = f"the exit code of container {name} is unknown: its monitor died before recording it"
            hint = None
        super().__init__(message, hint=hint)
        self.name = name


class NoSpace(Unavailable):
    """The filesystem cove was writing to is full (ENOSPC, EDQUOT or SQLite's SQLITE_FULL)."""

    def __init__(self, what: str, path: object = None, *, hint: str | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(
            f"no space left on device while writing {what}{where}",
            hint=hint
            or "free some space there; `cove system prune -a` removes unused images, stopped "
            "containers, build cache and unfinished downloads",
        )
        self.what = what
        self.path = None if path is None else str(path)


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(exc: BaseException) -> NoSpace | OSError | None:
    """The full disk behind ``exc``, if that is what it comes down to: the first error
    that said so (the deepest of its causes and contexts, since that happened first), as
    the nearest :class:`NoSpace` above it names it, else the OSError itself."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    first: OSError | None = None
    for cause in reversed(chain):
        if isinstance(cause, NoSpace):
            return cause
        if first is None and isinstance(cause, OSError) and cause.errno in FULL_ERRNOS:
            first = cause
    return first

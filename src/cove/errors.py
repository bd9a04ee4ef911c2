"""The one exception tree of cove.

Every error a user can cause or meet derives from :class:`CoveError`. It carries a
:class:`Kind` (what went wrong, in terms a front-end can map), a message that names the
problem, and an optional hint that says how to fix it. Nothing below the CLI prints or
exits; it raises these. The kind alone decides what a front-end answers: :data:`OUTCOMES`
is the one table of kind -> the CLI's exit code and the API's HTTP status.

The whole tree, by kind (a unit test keeps it complete: every subclass in ``src`` is named
here, under the kind it has)::

    CoveError                                   (base; INTERNAL unless a subclass says)
    |-- NotFound                                NOT_FOUND            404
    |   |-- ImageNotFound                       errors
    |   |-- ContainerNotFound                   containers/store.py
    |   |-- NetworkNotFound                     network/store.py
    |   |-- VolumeNotFound                      volumes/store.py
    |   |-- BlobNotFound                        content/store.py
    |   |-- SnapshotNotFound                    snapshots/snapshotter.py
    |   |   `-- ParentMissing                   images/unpack.py
    |   `-- RegistryNotFound                    registry/errors.py (also a RegistryError)
    |-- AlreadyExists                           ALREADY_EXISTS       409
    |-- InvalidArgument                         INVALID_ARGUMENT     400
    |   |-- InvalidReference                    errors
    |   |-- DigestMismatch                      errors
    |   |   `-- SizeMismatch                    errors
    |   |-- LayerError                          errors
    |   |-- ArchiveError                        errors
    |   |-- PathEscape                          host/inroot.py
    |   |-- PathTooLong                         images/diff.py
    |   |-- DockerfileError                     build/dockerfile.py
    |   |-- ExpansionError                      build/expand.py
    |   |-- TemplateError                       cli/template.py
    |   |   `-- TemplateParseError              cli/template.py
    |   |-- ComposeError                        compose/errors.py
    |   |   |-- NoConfigFile                    compose/options.py
    |   |   |-- InterpolationError              compose/interpolation.py
    |   |   `-- DotenvError                     compose/dotenv.py
    |   `-- BadRequest                          registry/errors.py (also a RegistryError)
    |-- Conflict                                CONFLICT             409
    |   `-- InvalidTransition                   containers/state.py (pause a paused container...)
    |-- FailedPrecondition                      FAILED_PRECONDITION  409
    |-- Unavailable                             UNAVAILABLE          503
    |   |-- ExitStatusUnknown                   errors
    |   |-- NoSpace                             errors
    |   |-- RateLimited                         registry/errors.py (also a RegistryError)
    |   `-- RegistryUnavailable                 registry/errors.py (also a RegistryError)
    |       `-- TransportError                  registry/transport.py
    |-- PermissionDenied                        PERMISSION_DENIED    403
    |   |-- Unauthorized                        registry/errors.py (also a RegistryError)
    |   `-- Denied                              registry/errors.py (also a RegistryError)
    |-- NotImplementedYet                       NOT_IMPLEMENTED      501
    |-- InternalError                           INTERNAL             500
    |   |-- CommandFailed                       host/runner.py
    |   |-- MountError                          host/mounts.py
    |   `-- RuntimeFailure                      runtime/oci.py
    |-- RegistryError                           registry/errors.py (INTERNAL; its subclasses
    |                                           take the kinds above from their second base)
    |-- ContainerStartError                     engine (its program could not start: INVALID_ARGUMENT
    |                                           for Docker's 126/127, INTERNAL for 125; the run
    |                                           command exits with that code)
    |-- RunFailed                               build/backend.py (INTERNAL: a RUN step failed)
    `-- _Stopped                                build/executor.py (INTERNAL: a build stopped)

Exit codes are Docker's CLI's: every error the engine reports exits 1 (``docker run``'s
125 for an engine error before the container ran is the run command's own rule, in cli/).
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


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


@dataclass(frozen=True)
class Outcome:
    """What a front-end answers for an error of one kind."""

    exit_code: int  # the CLI's (Docker's: 1 for every error the engine reports)
    http_status: int  # the API server's (moby's errdefs mapping)


# The one table: kind -> exit code and HTTP status. cli/exitcodes.py and the API server use it.
OUTCOMES: Mapping[Kind, Outcome] = MappingProxyType(
    {
        Kind.NOT_FOUND: Outcome(exit_code=1, http_status=404),
        Kind.ALREADY_EXISTS: Outcome(exit_code=1, http_status=409),
        Kind.INVALID_ARGUMENT: Outcome(exit_code=1, http_status=400),
        Kind.CONFLICT: Outcome(exit_code=1, http_status=409),
        # moby answers "is not running", "is paused" and the like with 409 Conflict.
        Kind.FAILED_PRECONDITION: Outcome(exit_code=1, http_status=409),
        Kind.UNAVAILABLE: Outcome(exit_code=1, http_status=503),
        Kind.PERMISSION_DENIED: Outcome(exit_code=1, http_status=403),
        Kind.NOT_IMPLEMENTED: Outcome(exit_code=1, http_status=501),
        Kind.INTERNAL: Outcome(exit_code=1, http_status=500),
    }
)


class CoveError(Exception):
    """Base of all cove errors: a kind, a message and an optional hint."""

    kind: Kind = Kind.INTERNAL  # (a class default; an instance may say otherwise)

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    @property
    def outcome(self) -> Outcome:
        """This error's exit code and HTTP status: its kind's, from :data:`OUTCOMES`."""
        return OUTCOMES[self.kind]


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

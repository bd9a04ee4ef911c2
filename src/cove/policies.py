"""Policies a front-end passes to the engine and the engine to a container's monitor:
plain values, parsed once from Docker's text and validated there.

They live in the base layer because both sides use them: the command line (and later the
API server and compose) parse them, the engine stores them in a container's config, and the
monitor, which must not import the engine's container model, applies the restart policy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from cove.errors import InvalidArgument

MAX_RETRIES = (1 << 31) - 1  # Docker's MaximumRetryCount is an int32


class RestartName(enum.StrEnum):
    NO = "no"
    ALWAYS = "always"
    UNLESS_STOPPED = "unless-stopped"
    ON_FAILURE = "on-failure"


_RESTART_HINT = "use no, always, unless-stopped or on-failure[:N]"


@dataclass(frozen=True)
class RestartPolicy:
    """``--restart``: what the monitor does when the container's program ends."""

    name: RestartName = RestartName.NO
    max_retries: int = 0  # on-failure only; 0: no limit

    def __post_init__(self) -> None:
        if not isinstance(self.name, RestartName):
            raise InvalidArgument(f"invalid restart policy {self.name!r}", hint=_RESTART_HINT)
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidArgument(f"invalid restart policy retry count {self.max_retries!r}")
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise InvalidArgument(
                f"invalid restart policy retry count {self.max_retries}: it must be 0 or more"
            )
        if self.max_retries and self.name is not RestartName.ON_FAILURE:
            raise InvalidArgument(f"invalid restart policy {self}: only on-failure takes a count")

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """Docker's ``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` ("" is "no")."""
        if not text:
            return cls()  # Docker's daemon reads an empty policy as "no"
        name, colon, count = text.partition(":")
        try:
            kind = RestartName(name)
        except ValueError:
            raise InvalidArgument(f"invalid restart policy {text!r}", hint=_RESTART_HINT) from None
        if colon and (kind is not RestartName.ON_FAILURE or not count.isdigit()):
            raise InvalidArgument(f"invalid restart policy {text!r}: only on-failure takes a count")
        if len(count) > 10:
            raise InvalidArgument(f"invalid restart policy {text!r}: the count is too large")
        return cls(kind, int(count or 0))

    @property
    def restarts(self) -> bool:
        """Whether the monitor ever starts the program again (``--rm`` cannot go with it)."""
        return self.name is not RestartName.NO

    def should_restart(self, exit_code: int, restart_count: int, *, stopped: bool) -> bool:
        """Whether a program that ended with ``exit_code`` is started again, after
        ``restart_count`` restarts; never when the user stopped it (``stopped``)."""
        if stopped or self.name is RestartName.NO:
            return False
        if self.name is RestartName.ON_FAILURE:
            return exit_code != 0 and (self.max_retries == 0 or restart_count < self.max_retries)
        return True  # always, unless-stopped

    def __str__(self) -> str:
        return f"{self.name}:{self.max_retries}" if self.max_retries else str(self.name)

    def to_json(self) -> dict[str, object]:
        return {"name": str(self.name), "max_retries": self.max_retries}

    @classmethod
    def from_json(cls, data: object, legacy_retries: object = 0) -> RestartPolicy:
        """From :meth:`to_json`'s shape, or from the older records' name string (with their
        separate ``restart_max_retries``)."""
        if isinstance(data, str):
            name, retries = data or "no", legacy_retries or 0
        elif isinstance(data, Mapping):
            name, retries = data.get("name") or "no", data.get("max_retries") or 0
        else:
            raise InvalidArgument(f"invalid restart policy {data!r}")
        try:
            kind = RestartName(name)
        except ValueError:
            raise InvalidArgument(f"invalid restart policy {name!r}", hint=_RESTART_HINT) from None
        if not isinstance(retries, int):
            raise InvalidArgument(f"invalid restart policy retry count {retries!r}")
        return cls(kind, retries)


class PullPolicy(enum.StrEnum):
    """``--pull`` of run and create: when the image is pulled before the container is made."""

    MISSING = "missing"  # only when the store does not have it (Docker's default)
    ALWAYS = "always"
    NEVER = "never"

    @classmethod
    def parse(cls, text: str) -> PullPolicy:
        try:
            return cls(text)
        except ValueError:
            raise InvalidArgument(
                f'invalid pull option: "{text}": must be one of "always", "missing" or "never"'
            ) from None

"""What the container service hands out: a container (its record and status), and its errors."""

from __future__ import annotations

from dataclasses import dataclass

from cove.containers.state import ContainerState
from cove.containers.store import ContainerRecord
from cove.errors import CoveError, Kind


class ContainerStartError(CoveError):
    """The container's program could not be started; ``exit_code`` is Docker's (125/126/127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        # 126/127: the program is missing or cannot be run, which the caller asked for (moby
        # answers 400); 125: the runtime failed.
        self.kind = Kind.INVALID_ARGUMENT if exit_code in (126, 127) else Kind.INTERNAL


@dataclass(frozen=True)
class Container:
    record: ContainerRecord
    status: ContainerState

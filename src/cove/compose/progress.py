"""What compose reports as it works: one event per resource and step, as Docker Compose shows
them (``✔ Container app-web-1  Started``). Compose code reports; the CLI renders (live on a
terminal, plain lines otherwise)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Kind(enum.Enum):
    CONTAINER = "Container"
    NETWORK = "Network"
    VOLUME = "Volume"
    IMAGE = "Image"
    SERVICE = "Service"


class Phase(enum.Enum):
    WORKING = "working"  # Creating, Starting, Waiting, Pulling...
    DONE = "done"  # Created, Started, Healthy, Removed...
    WARNING = "warning"  # an orphan found, a pull that failed but was ignored
    ERROR = "error"


@dataclass(frozen=True)
class Event:
    kind: Kind
    name: str  # the resource's engine name: app-web-1, app_default
    status: str  # Docker Compose's word: Creating, Created, Starting, Started, Healthy, Removed...
    phase: Phase = Phase.DONE
    detail: str = ""  # why, for WARNING and ERROR


Report = Callable[[Event], None]


def no_report(event: Event) -> None:
    pass

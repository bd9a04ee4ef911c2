"""Progress reports from long work (unpacking, loading, saving), rendered by front-ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    id: str  # what the line is about: a short layer ID, an image name
    status: str  # "Loading layer", "Extracting", "Done", ...
    current: int = 0
    total: int | None = None  # None when the size is not known


Progress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """A sink that drops every report."""

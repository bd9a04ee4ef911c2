"""`cove compose` up, down, create, start, stop, restart, kill, rm, pause, unpause."""

from __future__ import annotations

from typing import Any


def register(group: Any) -> None:
    """(Nothing yet.)"""

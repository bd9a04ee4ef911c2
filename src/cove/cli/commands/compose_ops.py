"""`cove compose` ps, logs, exec, run, top, images, port, ls, events, wait, cp, version."""

from __future__ import annotations

from typing import Any


def register(group: Any) -> None:
    """(Nothing yet.)"""

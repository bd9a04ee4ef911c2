"""`cove compose` watch."""

from __future__ import annotations

from typing import Any


def register(group: Any) -> None:
    """(Nothing yet.)"""

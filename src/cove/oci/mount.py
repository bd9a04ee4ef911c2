"""Mounts as data: what a snapshot needs mounted to show its filesystem."""

from __future__ import annotations

from typing import NamedTuple


class Mount(NamedTuple):
    """One mount, as ``mount -t TYPE -o OPTIONS SOURCE TARGET`` would take it."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    @property
    def readonly(self) -> bool:
        return "ro" in self.options

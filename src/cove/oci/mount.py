"""Mounts as data: what a snapshot needs mounted to show its filesystem."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mount:
    """One mount, as ``mount -t TYPE -o OPTIONS SOURCE TARGET`` would take it."""

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    @property
    def readonly(self) -> bool:
        return "ro" in self.options

"""Platforms (os/architecture/variant) in Go's naming, as OCI indexes use them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cove.errors import InvalidArgument

_MACHINE_TO_GOARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return f"{out}/{self.variant}" if self.variant else out


def host_platform() -> Platform:
    arch, variant = _MACHINE_TO_GOARCH.get(os.uname().machine, (os.uname().machine, ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str) -> Platform:
    parts = text.lower().split("/")
    if len(parts) == 1 and parts[0] in {"linux"}:
        host = host_platform()
        return Platform(parts[0], host.architecture, host.variant)
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}", hint="use os/arch[/variant], e.g. linux/amd64")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(parts[1], parts[1])
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else "")

"""What the parts of the network service share: an attachment, the pre-defined networks'
names, and the store's network lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cove.host.locks import FileLock

DEFAULT_NETWORK = "bridge"
PREDEFINED = frozenset({"bridge", "host", "none"})
# Network modes without endpoints of their own.
INTERNAL_ONLY_MODES = frozenset({"none", "host", "private"})


@dataclass(frozen=True)
class Attachment:
    """One network a container asks for at create."""

    network: str
    aliases: tuple[str, ...] = ()
    ip: str | None = None
    mac: str | None = None


class StoreLock:
    """The store's network lock (a file in its root): held around every change of records
    that the host's objects or rules follow, so that they change together."""

    def __init__(self, root: Path) -> None:
        self.path = root / "locks" / "network.lock"

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with FileLock(self.path).exclusive():
            yield

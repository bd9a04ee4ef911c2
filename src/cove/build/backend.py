"""What the builder needs from an engine, as a protocol (moby's builder ``Backend``).

The engine's build service satisfies it with the local store and OCI runtime; the
executor sees only these calls, the layers they return and the cache records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cove.build.cachestore import BuildCache
from cove.errors import CoveError
from cove.oci.digest import Digest
from cove.oci.image import Descriptor


@dataclass(frozen=True)
class Layer:
    descriptor: Descriptor
    diff_id: Digest


@dataclass(frozen=True)
class BaseImage:
    id: str  # the config digest; "" for scratch
    config: dict[str, Any]  # the whole image config (architecture, config, rootfs, history)
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class RunMount:
    kind: str  # "bind", "cache", "tmpfs" or "secret"
    target: str
    source: str = ""  # bind, secret: a host path (a path inside ``root`` if given); cache: its id
    readonly: bool = False
    options: tuple[str, ...] = ()  # tmpfs: size=...; cache: sharing=...
    root: str = ""  # bind: the directory (a context, a stage's files) ``source`` is resolved in


@dataclass(frozen=True)
class RunRequest:
    argv: list[str]
    env: list[str]
    user: str
    workdir: str
    network: str = "default"  # "default", "none" or "host"
    mounts: list[RunMount] = field(default_factory=list)


class RunFailed(CoveError):
    """A RUN's command exited with a non-zero status."""

    def __init__(self, message: str, exit_code: int, output: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.output = output


# Writes a layer tar (and, given a directory, the same files into it); returns how many entries.
LayerWriter = Callable[[BinaryIO, Path | None], int]


class BuildBackend(Protocol):
    cache: BuildCache

    def base_image(self, name: str, platform: str, pull: bool) -> BaseImage:
        """The image ``name`` for ``platform``, pulled when missing (or always with ``pull``)."""
        ...

    def layers_present(self, layers: Sequence[Layer]) -> bool:
        """Whether these layers' blobs and snapshots are all in the store."""
        ...

    def run(
        self, layers: Sequence[Layer], request: RunRequest, output: Callable[[bytes], None]
    ) -> Layer | None:
        """Run a command on ``layers``; the layer of what it changed (None: nothing changed)."""
        ...

    def add_layer(self, layers: Sequence[Layer], write: LayerWriter, *, mirror: bool = False) -> Layer | None:
        """Store the tar ``write`` makes as a layer over ``layers`` (None when it is empty);
        with ``mirror``, ``write`` also fills the layer's snapshot, which is not unpacked then."""
        ...

    def rootfs(self, layers: Sequence[Layer]) -> AbstractContextManager[Path]:
        """The files of ``layers``, read-only, for as long as the context lasts."""
        ...

    def owner(self, layers: Sequence[Layer], spec: str) -> tuple[int, int]:
        """``user[:group]`` (names or numbers) as the image's /etc/passwd and /etc/group say."""
        ...

    def download(self, url: str, dest: Path) -> tuple[str, float | None]:
        """Fetch ``url`` into the file ``dest``; (its file name, its Last-Modified time)."""
        ...

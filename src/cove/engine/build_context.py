"""Resolving a build's context, as Docker's client does on its side: a directory, a stream (a
tar, plain or compressed, or a lone Dockerfile), or an http(s) URL to either. The CLI, compose
and the API server (whose request body is the stream) all resolve contexts here.

Git URLs are recognised and refused with a clear error: this machine cannot fetch them.
"""

from __future__ import annotations

import contextlib
import enum
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from cove.engine.sources import open_source
from cove.errors import InvalidArgument, NotFound

DOCKERFILE_MAX = 4 << 20  # bytes: a Dockerfile is text (the bound wherever the engine reads one)
SNIFF = 512  # bytes read to tell an archive from a Dockerfile
ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # gzip bzip2 xz zstd
DEFAULT_DOCKERFILE = "Dockerfile"


class ContextKind(enum.Enum):
    DIRECTORY = "directory"
    URL = "url"  # http(s), to a tarball or a Dockerfile
    GIT = "git"


def context_kind(source: str) -> ContextKind:
    """What a context argument names, by Docker's client's rules."""
    if source.startswith(("git@", "git://", "github.com/")) or (
        source.startswith(("http://", "https://")) and source.split("#", 1)[0].endswith(".git")
    ):
        return ContextKind.GIT
    if source.startswith(("http://", "https://")):
        return ContextKind.URL
    return ContextKind.DIRECTORY


@dataclass(frozen=True)
class BuildContext:
    root: Path  # the context directory (a temporary one for streams and URLs)
    dockerfile: str  # the Dockerfile's text
    dockerfile_path: Path | None  # where it was read (its .dockerignore is beside it); None for text


class ContextUnpacker(Protocol):
    """What resolving needs of the build service (BuildService has both)."""

    def context_from_archive(self, source: BinaryIO) -> contextlib.AbstractContextManager[Path]: ...

    def context_file(self, root: Path, name: str) -> str | None: ...


@contextlib.contextmanager
def resolve_context(
    build: ContextUnpacker,
    source: str | BinaryIO,
    *,
    dockerfile: str | None = None,
    dockerfile_text: str | None = None,
) -> Iterator[BuildContext]:
    """The context, for as long as the ``with`` lasts (a temporary one is removed after).

    ``source``: a directory's path, an http(s) URL, or a stream. ``dockerfile``: with a
    directory, the Dockerfile's own path (Docker allows one outside the context); with an
    archive, its name inside it. ``dockerfile_text``: the Dockerfile itself, given apart
    (``-f -``), which then wins over any in the context."""
    if not isinstance(source, str):
        with _from_stream(build, source, "the context", dockerfile, dockerfile_text) as context:
            yield context
        return
    kind = context_kind(source)
    if kind is ContextKind.GIT:
        raise InvalidArgument(
            f"Git contexts ({source}) cannot be fetched here", hint="clone it and build the directory"
        )
    if kind is ContextKind.URL:
        with (
            open_source(source) as (stream, _size),
            _from_stream(build, stream, source, dockerfile, dockerfile_text) as context,
        ):
            yield context
        return
    yield _from_directory(build, Path(source), dockerfile, dockerfile_text)


def _from_directory(
    build: ContextUnpacker, root: Path, dockerfile: str | None, dockerfile_text: str | None
) -> BuildContext:
    if not root.is_dir():
        raise NotFound(f"the build context {root} is not a directory", hint="give a directory, - or a URL")
    if dockerfile_text is not None:
        return BuildContext(root, dockerfile_text, None)
    if dockerfile:  # the user's own file, wherever it is
        path = Path(dockerfile)
        text = _read_bounded(path) if path.is_file() else None
    else:  # the context's, read inside it
        path = root / DEFAULT_DOCKERFILE
        text = build.context_file(root, DEFAULT_DOCKERFILE)
    if text is None:
        raise NotFound(
            f"cannot read the Dockerfile {path}", hint="name it with -f, or put a Dockerfile in the context"
        )
    return BuildContext(root, text, path)


@contextlib.contextmanager
def _from_stream(
    build: ContextUnpacker,
    stream: BinaryIO,
    what: str,
    dockerfile: str | None,
    dockerfile_text: str | None,
) -> Iterator[BuildContext]:
    head = _read_up_to(stream, SNIFF)
    if not is_archive(head):
        # A lone Dockerfile (`cove build - < Dockerfile`, or a URL to one): no context at all.
        if dockerfile_text is not None:
            raise InvalidArgument(f"{what} is not a tar archive, and the Dockerfile is given apart")
        rest = _read_up_to(stream, DOCKERFILE_MAX + 1 - len(head))
        if len(head) + len(rest) > DOCKERFILE_MAX:
            raise InvalidArgument(
                f"{what} is neither a tar archive nor a Dockerfile (over {DOCKERFILE_MAX >> 20} MiB)"
            )
        with tempfile.TemporaryDirectory(prefix="cove-context-") as empty:
            yield BuildContext(Path(empty), (head + rest).decode(errors="replace"), None)
        return
    archive = cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream)))
    with build.context_from_archive(archive) as root:
        if dockerfile_text is not None:
            yield BuildContext(root, dockerfile_text, None)
            return
        name = dockerfile or DEFAULT_DOCKERFILE
        found = build.context_file(root, name)
        if found is None:
            raise NotFound(f"the context archive holds no {name}", hint="name it with -f")
        yield BuildContext(root, found, root / name.lstrip("/"))


def is_archive(head: bytes) -> bool:
    """A compressed stream, or a tar (its ustar magic at 257)."""
    return head.startswith(ARCHIVE_MAGIC) or (len(head) >= 262 and head[257:262] == b"ustar")


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """``n`` bytes, fewer only at the end (a pipe's reads may come short)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _read_bounded(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(DOCKERFILE_MAX + 1)
    if len(data) > DOCKERFILE_MAX:
        raise InvalidArgument(f"the Dockerfile {path} is over {DOCKERFILE_MAX >> 20} MiB")
    return data.decode(errors="replace")


class _Prefixed(io.RawIOBase):
    """A stream with its first bytes (already read to sniff it) put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

"""Secrets and configs: the files a service asks for, put into its container before it starts.

A secret lands at ``/run/secrets/<name>`` unless its reference names a ``target`` (a relative
one under ``/run/secrets``); a config at ``/<name>`` (a relative target under ``/``). Their
bytes come from the top-level entry's ``file:`` (read when the container is made),
``environment:`` (a variable of the project's environment) or ``content:``.

Every source gets the reference's ``uid``, ``gid`` (default 0) and ``mode`` (default 0444).
Docker Compose bind-mounts a ``file:`` source and so ignores them for it (docker/compose#9648);
cove copies every source in, through the engine's copy into the container (each path resolved
inside it), with the owner and mode in the tar headers. A copy rather than a bind mount also
works for a ``read_only`` service: the files are written to its root filesystem before it is
mounted read-only, where Docker Compose refuses a content or environment source.
"""

from __future__ import annotations

import enum
import io
import posixpath
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cove.compose.errors import ComposeError
from cove.compose.model import FileReference, Project, Resource, Service
from cove.errors import InvalidArgument

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend

MAX_FILE_BYTES = 8 << 20  # a secret or config is a small file; this bounds what up reads and copies
DEFAULT_MODE = 0o444


class FileKind(enum.Enum):
    SECRET = "secret"
    CONFIG = "config"


@dataclass(frozen=True)
class InjectedFile:
    kind: FileKind
    name: str  # the top-level key
    target: str  # absolute, in the container
    data: bytes
    uid: int = 0
    gid: int = 0
    mode: int = DEFAULT_MODE


def target_of(kind: FileKind, ref: FileReference) -> str:
    """Where the reference puts its file in the container."""
    base = "/run/secrets" if kind is FileKind.SECRET else "/"
    target = ref.target or ref.source
    return posixpath.normpath(posixpath.join(base, target))


def service_files(project: Project, service: Service) -> list[InjectedFile]:
    """The secrets and configs of ``service``, read (files, environment, content) and checked."""
    out: list[InjectedFile] = []
    for kind, refs, defined in (
        (FileKind.SECRET, service.secrets, project.secrets),
        (FileKind.CONFIG, service.configs, project.configs),
    ):
        for i, ref in enumerate(refs):
            where = f"services.{service.name}.{kind.value}s[{i}]"
            resource = defined.get(ref.source)
            if resource is None:
                raise ComposeError(f"{where}: undefined {kind.value} {ref.source}")
            out.append(
                InjectedFile(
                    kind=kind,
                    name=ref.source,
                    target=target_of(kind, ref),
                    data=_content(project, kind, resource, ref.source),
                    uid=_id(ref.uid, f"{where}.uid"),
                    gid=_id(ref.gid, f"{where}.gid"),
                    mode=DEFAULT_MODE if ref.mode is None else _mode(ref.mode, f"{where}.mode"),
                )
            )
    return out


def _content(project: Project, kind: FileKind, resource: Resource, key: str) -> bytes:
    what = f'{kind.value} "{key}"'
    if resource.external:
        raise ComposeError(
            f"{what} is external: cove has no swarm to hold it",
            hint="give it a file:, environment: or content: source",
        )
    if resource.content is not None:
        data = resource.content.encode()
    elif resource.environment is not None:
        if resource.environment not in project.environment:
            raise ComposeError(f'environment variable "{resource.environment}" required by {what} is not set')
        data = project.environment[resource.environment].encode()
    elif resource.file is not None:
        data = _read_file(resource.file, what)
    else:
        raise ComposeError(f"{what} has no file:, environment: or content: source")
    if len(data) > MAX_FILE_BYTES:
        raise ComposeError(f"{what} is over {MAX_FILE_BYTES >> 20} MiB")
    return data


def _read_file(path: str, what: str) -> bytes:
    # The loader made the path absolute, from the project directory.
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise ComposeError(f"{what}: {path} is a directory: a secret or config is one file") from None
    except OSError as exc:
        raise ComposeError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ComposeError(f"{what}: {path} is over {MAX_FILE_BYTES >> 20} MiB")
    return data


def _id(text: str | None, where: str) -> int:
    if text is None or text == "":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ComposeError(f"{where}: {text!r} is not a numeric ID") from None
    if not 0 <= value < 1 << 32:
        raise ComposeError(f"{where}: {value} is out of range")
    return value


def _mode(value: int, where: str) -> int:
    if not 0 <= value <= 0o7777:
        raise ComposeError(f"{where}: {value:o} is not a file mode")
    return value


def archive_of(files: Sequence[InjectedFile]) -> bytes:
    """The files as one tar (its entries' owners and modes the files'; no directory entries,
    so the directories that hold them keep theirs, and missing ones are made 0755 root)."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.target.lstrip("/"))
            info.size = len(f.data)
            info.mode = f.mode
            info.uid, info.gid = f.uid, f.gid
            info.mtime = int(now)
            tar.addfile(info, io.BytesIO(f.data))
    return buffer.getvalue()


def inject(backend: EngineBackend, container_id: str, files: Sequence[InjectedFile]) -> None:
    """Put ``files`` into a created container (before it starts)."""
    if not files:
        return
    try:
        backend.inject_archive(container_id, io.BytesIO(archive_of(files)))
    except InvalidArgument as exc:
        targets = ", ".join(f.target for f in files)
        raise InvalidArgument(
            f"cannot put {targets} into the container: {exc.message}", hint=exc.hint
        ) from None

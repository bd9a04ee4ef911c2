"""``ContainerIO``: the front-ends' one object for looking into and copying out of containers,
composed of one object per job (each in its own module of this package)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cove.engine.container_io.cp import Copier
from cove.engine.container_io.exec import ExecSession, Executor
from cove.engine.container_io.logs import Logs
from cove.engine.container_io.snapshot import Snapshots
from cove.engine.container_io.stats import Stats, StatsReader
from cove.engine.container_io.top import Top
from cove.engine.container_io.update import Updater
from cove.engine.containers import Container, ContainerService
from cove.images.diff import Change
from cove.logs import jsonfile
from cove.oci.digest import Digest


class ContainerIO:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store
        self.logs_reader = Logs(containers)
        self.executor = Executor(containers)
        self.top_reader = Top(containers)
        self.stats_reader = StatsReader(containers)
        self.snapshots = Snapshots(containers)
        self.copier = Copier(containers)
        self.updater = Updater(containers)

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[jsonfile.LogEntry]:
        return self.logs_reader.logs(ref, follow=follow, tail=tail, since=since, until=until)

    def exec(
        self,
        ref: str,
        argv: list[str],
        *,
        tty: bool = False,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        detach: bool = False,
        stdin: int | None = None,
        stdout: int = 1,
        stderr: int = 2,
    ) -> ExecSession | None:
        return self.executor.exec(
            ref,
            argv,
            tty=tty,
            env=env,
            user=user,
            workdir=workdir,
            privileged=privileged,
            detach=detach,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        return self.top_reader.top(ref, ps_args)

    def stats(self, refs: list[str] | None = None) -> list[Stats]:
        return self.stats_reader.stats(refs)

    def diff(self, ref: str) -> list[Change]:
        return self.snapshots.diff(ref)

    def commit(
        self,
        ref: str,
        reference: str | None = None,
        *,
        changes: list[str] | None = None,
        message: str = "",
        author: str = "",
        pause: bool = True,
    ) -> Digest:
        return self.snapshots.commit(
            ref, reference, changes=changes, message=message, author=author, pause=pause
        )

    def export(self, ref: str, out: BinaryIO) -> None:
        self.snapshots.export(ref, out)

    def copy_from(
        self, ref: str, path: str, out: BinaryIO, name: str | None = None, *, follow: bool = False
    ) -> None:
        self.copier.copy_from(ref, path, out, name, follow=follow)

    def copy_out(self, ref: str, path: str, dest: Path, *, follow: bool = False) -> None:
        self.copier.copy_out(ref, path, dest, follow=follow)

    def copy_in(self, ref: str, source: Path, path: str) -> None:
        self.copier.copy_in(ref, source, path)

    def copy_to(self, ref: str, path: str, archive: BinaryIO) -> None:
        self.copier.copy_to(ref, path, archive)

    def update(self, ref: str, *, resources: dict[str, Any], restart: str | None = None) -> Container:
        return self.updater.update(ref, resources=resources, restart=restart)

"""`cove compose watch`: sync, restart or rebuild services as their files change (develop.watch)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO, cast

from cove.cli import exitcodes
from cove.cli.parser import GoBool

if TYPE_CHECKING:
    from collections.abc import Callable

    from cove.cli.app import Cli
    from cove.compose.backend import EngineBackend
    from cove.compose.model import Project


def register(group: Any) -> None:
    p = group.add_parser(
        "watch", help="Watch build context for service and rebuild/refresh containers when files are updated"
    )
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--no-up", action="store_true", help="Do not build & start services before watching")
    p.add_argument("--prune", action=GoBool, default=True, help="Prune dangling images on rebuild")
    p.add_argument("--quiet", action="store_true", help="hide build output")
    p.set_defaults(handler=cmd_watch)


def _writer(stream: TextIO, prefix: str = "") -> Any:
    def write(line: str) -> None:
        stream.write(f"{prefix}{line}\n")
        stream.flush()  # each line as it happens, also into a pipe

    return write


class _Lazy:
    """The engine backend, made on first use."""

    def __init__(self, make: Callable[[], EngineBackend]) -> None:
        self._make = make
        self._made: EngineBackend | None = None

    def made(self) -> EngineBackend:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


def with_build_policy(project: Project) -> Project:
    """Services with a build and a develop section are always built by watch's up (Docker
    Compose gives them the build pull policy)."""
    from dataclasses import replace
    from types import MappingProxyType

    from cove.compose.model import PullPolicy

    services = {
        name: replace(s, pull_policy=PullPolicy.BUILD) if s.build is not None and s.develop is not None else s
        for name, s in project.services.items()
    }
    return replace(project, services=MappingProxyType(services))


def cmd_watch(cli: Cli, args: argparse.Namespace) -> int:
    import signal
    import threading

    from cove.cli.commands.compose import backend, load
    from cove.cli.commands.compose_images import _build_log
    from cove.cli.compose_progress import ComposeProgress
    from cove.compose.watch_rebuild import ProjectRebuilder
    from cove.compose.watch_session import Session

    project = with_build_policy(load(cli, args, args.services))
    # The engine is opened once the project is checked: bad input fails without it.
    lazy = _Lazy(lambda: backend(cli))
    engine = cast("EngineBackend", lazy)

    def quiet(_event: object) -> None:
        pass

    # A rebuild's progress is plain lines among the watch's own (Docker Compose's plain mode).
    report = quiet if args.quiet else ComposeProgress(cli.err, tty=False)
    rebuilder = ProjectRebuilder(
        engine,
        project,
        prune=args.prune,
        report=report,
        build_log=None if args.quiet else _build_log(cli.err),
    )
    session = Session(
        project,
        engine,
        services=args.services,
        rebuilder=rebuilder,
        log=_writer(cli.out),
        warn=_writer(cli.err, "WARN[0000] "),
    )
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends the watch as Ctrl-C does (Docker Compose cancels on both).
        def interrupted(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupted)
    if not args.no_up:
        up(lazy.made(), project, args.services, quiet if args.quiet else None, cli)
    lazy.made()  # opened before watching, so that the first sync does not wait for it
    session.run()
    return exitcodes.OK


def up(engine: EngineBackend, project: Project, services: list[str], report: Any, cli: Cli) -> None:
    """Build and start the services before watching, as Docker Compose's watch does: like
    ``up -d`` but for containers of the services' dependencies, which are not recreated."""
    from cove.cli.compose_progress import ComposeProgress
    from cove.compose import lifecycle
    from cove.compose.plan import Recreate

    request = lifecycle.UpRequest(
        services=tuple(services), recreate=Recreate.DIVERGED, recreate_dependencies=Recreate.NEVER
    )
    progress = ComposeProgress(cli.err) if report is None else None
    try:
        lifecycle.up(engine, project, request, progress or report)
    finally:
        if progress is not None:
            progress.close()

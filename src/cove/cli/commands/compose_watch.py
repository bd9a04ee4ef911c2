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


def cmd_watch(cli: Cli, args: argparse.Namespace) -> int:
    import signal
    import threading

    from cove.cli.commands.compose import backend, load
    from cove.compose.watch_session import Session

    project = load(cli, args, args.services)
    # The engine is opened when the watch starts: bad input fails without it.
    lazy = _Lazy(lambda: backend(cli))
    engine = cast("EngineBackend", lazy)
    if not args.no_up:
        # `watch` brings the project up first (Docker Compose's up: build, create, start).
        from cove.errors import Unavailable

        raise Unavailable(
            "compose watch needs --no-up here: start the project with `cove compose up -d` first"
        )
    session = Session(
        project,
        engine,
        services=args.services,
        rebuilder=None,
        log=_writer(cli.out),
        warn=_writer(cli.err, "WARN[0000] "),
    )
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends the watch as Ctrl-C does (Docker Compose cancels on both).
        def interrupted(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupted)
    lazy.made()  # opened before watching, so that the first sync does not wait for it
    session.run()
    return exitcodes.OK

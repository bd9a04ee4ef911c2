"""Attached ``compose up``: the services' logs as one stream (``web-1  | ...``) until every
container has exited, one exits (``--abort-on-container-exit``), or Ctrl-C, which stops the
project gracefully (a second Ctrl-C kills it). Docker Compose's words and exit codes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cove.cli import exitcodes

if TYPE_CHECKING:
    from cove.cli.app import Cli
    from cove.compose.backend import EngineBackend
    from cove.compose.lifecycle import UpResult
    from cove.compose.model import Project
    from cove.engine.containers.model import Container


def _attached_services(args: argparse.Namespace, project: Project) -> list[str]:
    """--attach's services, else the ones named (else all), less --no-attach's."""
    chosen = list(args.attach) or list(args.services) or list(project.services)
    return [s for s in chosen if s not in set(args.no_attach)]


def attached(
    cli: Cli, args: argparse.Namespace, engine: EngineBackend, project: Project, result: UpResult
) -> int:
    try:
        return _follow(cli, args, engine, project, result)
    except KeyboardInterrupt:
        return interrupted(cli, args, engine, project, list(result.containers))


def interrupted(
    cli: Cli, args: argparse.Namespace, engine: EngineBackend, project: Project, services: list[str]
) -> int:
    """Ctrl-C of an attached ``up`` (while it follows the logs, or still starting): stop the
    project's services gracefully; a second Ctrl-C kills them."""
    try:
        cli.err.write("Gracefully Stopping... press Ctrl+C again to force\n")
        _stop(cli, engine, project, services, args.timeout)
    except KeyboardInterrupt:
        _kill(cli, engine, project, services)
    return exitcodes.INTERRUPTED


def _follow(
    cli: Cli, args: argparse.Namespace, engine: EngineBackend, project: Project, result: UpResult
) -> int:
    from cove.cli.compose_logs import LogPrinter
    from cove.compose.logstream import EXIT, LogStream, display_name, project_containers

    services = _attached_services(args, project)
    abort = args.abort_on_container_exit or args.abort_on_container_failure
    only_failures = args.abort_on_container_failure

    def discover() -> list[Container]:
        return project_containers(engine, project.name, services, all=False)

    first = project_containers(engine, project.name, services)
    live = {c.record.id for c in first if c.status.running}  # the end: when none of these runs
    printer = LogPrinter(cli.out, prefix=not args.no_log_prefix, color=not args.no_color and cli.out.isatty())
    for c in first:
        printer.register(display_name(c))
    cli.out.write("Attaching to " + ", ".join(display_name(c) for c in first) + "\n")
    cli.out.flush()
    code = exitcodes.OK
    # (nothing running: the logs there are, and the end; else follow until none of them runs)
    stream = (
        LogStream(engine, first, discover=discover, stop_when_idle=False)
        if live
        else LogStream(engine, first)
    )
    try:
        for line in stream:
            printer.write(line)
            if line.stream != EXIT:
                continue
            if "(restarting)" in line.text or line.container_id not in live:
                continue  # (restarting, or one that had exited before: not news)
            live.discard(line.container_id)
            if args.exit_code_from and line.service == args.exit_code_from and code == exitcodes.OK:
                code = line.exit_code or 0
            if abort and not (only_failures and line.exit_code == 0):
                if not args.exit_code_from:
                    code = line.exit_code or 0
                stream.close()
                cli.err.write("Aborting on container exit...\n")
                _stop(cli, engine, project, list(result.containers), args.timeout)
                break
            live &= {c.record.id for c in discover()}  # (the ones gone meanwhile)
            if not live:
                break
    finally:
        stream.close()
    return code


def _stop(
    cli: Cli, engine: EngineBackend, project: Project, services: list[str], timeout: int | None
) -> None:
    from cove.cli.compose_progress import ComposeProgress
    from cove.compose import lifecycle

    progress = ComposeProgress(cli.err)
    try:
        lifecycle.stop(engine, project, services, progress, timeout=timeout)
    finally:
        progress.close()


def _kill(cli: Cli, engine: EngineBackend, project: Project, services: list[str]) -> None:
    from cove.cli.compose_progress import ComposeProgress
    from cove.compose import lifecycle
    from cove.engine.container_types import Status

    progress = ComposeProgress(cli.err)
    try:
        lifecycle.each(
            engine,
            project,
            services,
            progress,
            lambda c: engine.kill_container(c.id),
            ("Killing", "Killed"),
            which=lambda c: c.status is Status.RUNNING,
        )
    finally:
        progress.close()

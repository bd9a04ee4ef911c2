"""`cove compose` up, down, create, start, stop, restart, kill, rm, pause, unpause."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.commands.compose import backend, load, options_of
from cove.errors import InvalidArgument

if TYPE_CHECKING:
    from cove.cli.compose_progress import ComposeProgress
    from cove.compose.model import Project


def register(group: Any) -> None:
    p = group.add_parser("up", help="Create and start containers")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    _create_flags(p)
    p.add_argument("-d", "--detach", action="store_true", help="run containers in the background")
    p.add_argument("--wait", action="store_true", help="wait for services to be running|healthy")
    p.add_argument("--wait-timeout", type=int, metavar="SECONDS", help="the longest --wait waits")
    p.add_argument("--no-start", action="store_true", help="don't start the services after creating them")
    p.add_argument("--abort-on-container-exit", action="store_true", help="stop all if any container stops")
    p.add_argument(
        "--abort-on-container-failure", action="store_true", help="stop all if any container exits non-zero"
    )
    p.add_argument("--exit-code-from", metavar="SERVICE", help="exit with this service's exit code")
    p.add_argument("-t", "--timeout", type=int, help="seconds to wait for a container to stop")
    p.add_argument("--attach", action="append", default=[], metavar="SERVICE", help="show these logs only")
    p.add_argument("--no-attach", action="append", default=[], metavar="SERVICE", help="hide these logs")
    p.add_argument("--no-log-prefix", action="store_true", help="don't print a prefix in the logs")
    p.add_argument("--no-color", action="store_true", help="produce monochrome output")
    p.add_argument("-V", "--renew-anon-volumes", action="store_true", help="recreate anonymous volumes")
    p.set_defaults(handler=cmd_up)

    p = group.add_parser("create", help="Create containers for a service")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    _create_flags(p)
    p.set_defaults(handler=cmd_create)

    p = group.add_parser("down", help="Stop and remove containers, networks")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-v", "--volumes", action="store_true", help="remove named and anonymous volumes")
    p.add_argument("--rmi", choices=("local", "all"), help="remove images used by services")
    p.add_argument("--remove-orphans", action="store_true", help="remove containers of undefined services")
    p.add_argument("-t", "--timeout", type=int, help="seconds to wait for a container to stop")
    p.set_defaults(handler=cmd_down)

    p = group.add_parser("start", help="Start services")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--wait", action="store_true", help="wait for services to be running|healthy")
    p.add_argument("--wait-timeout", type=int, metavar="SECONDS")
    p.set_defaults(handler=cmd_start)

    for name, text in (("stop", "Stop services"), ("restart", "Restart service containers")):
        p = group.add_parser(name, help=text)
        p.add_argument("services", nargs="*", metavar="SERVICE")
        p.add_argument("-t", "--timeout", type=int, help="seconds to wait for a container to stop")
        if name == "restart":
            p.add_argument("--no-deps", action="store_true", help="don't restart dependent services")
        p.set_defaults(handler=cmd_stop if name == "stop" else cmd_restart)

    p = group.add_parser("kill", help="Force stop service containers")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-s", "--signal", default="SIGKILL", help="the signal to send (default SIGKILL)")
    p.add_argument("--remove-orphans", action="store_true")
    p.set_defaults(handler=cmd_kill)

    p = group.add_parser("rm", help="Removes stopped service containers")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-f", "--force", action="store_true", help="don't ask to confirm removal")
    p.add_argument("-s", "--stop", action="store_true", help="stop the containers first, if needed")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes too")
    p.set_defaults(handler=cmd_rm)

    for name, text in (("pause", "Pause services"), ("unpause", "Unpause services")):
        p = group.add_parser(name, help=text)
        p.add_argument("services", nargs="*", metavar="SERVICE")
        p.set_defaults(handler=cmd_pause if name == "pause" else cmd_unpause)


def _create_flags(p: Any) -> None:
    p.add_argument("--build", action="store_true", help="build images before starting containers")
    p.add_argument("--no-build", action="store_true", help="don't build an image, even if it's missing")
    p.add_argument("--pull", choices=("always", "missing", "never", "build"), help="pull images first")
    p.add_argument("--force-recreate", action="store_true", help="recreate containers even if unchanged")
    p.add_argument("--no-recreate", action="store_true", help="don't recreate containers that exist")
    p.add_argument("--always-recreate-deps", action="store_true", help="recreate dependent containers")
    p.add_argument("--no-deps", action="store_true", help="don't start linked services")
    p.add_argument("--remove-orphans", action="store_true", help="remove containers of undefined services")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM", help="scale a service")


def _progress(cli: Cli) -> ComposeProgress:
    from cove.cli.compose_progress import ComposeProgress

    return ComposeProgress(cli.err)


def _scale(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit():
            raise InvalidArgument(f"invalid --scale {value!r}: expected SERVICE=NUM")
        out[name] = int(count)
    return out


def _up_request(args: argparse.Namespace, *, start: bool) -> Any:
    from cove.compose.lifecycle import UpRequest
    from cove.compose.plan import Recreate

    if args.force_recreate and args.no_recreate:
        raise InvalidArgument("--force-recreate and --no-recreate are incompatible")
    if args.always_recreate_deps and args.no_recreate:
        raise InvalidArgument("--always-recreate-deps and --no-recreate are incompatible")
    if args.build and args.no_build:
        raise InvalidArgument("--build and --no-build are incompatible")
    recreate = (
        Recreate.FORCE if args.force_recreate else Recreate.NEVER if args.no_recreate else Recreate.DIVERGED
    )
    deps = (
        Recreate.FORCE
        if args.always_recreate_deps
        else Recreate.NEVER
        if args.no_recreate
        else Recreate.DIVERGED
    )
    return UpRequest(
        services=tuple(args.services),
        no_deps=args.no_deps,
        recreate=recreate,
        recreate_dependencies=deps,
        scale=_scale(args.scale),
        remove_orphans=args.remove_orphans,
        start=start,
        timeout=getattr(args, "timeout", None),
        pull=args.pull,
        build=True if args.build else False if args.no_build else None,
        wait=getattr(args, "wait", False),
        wait_timeout=getattr(args, "wait_timeout", None),
        renew_anon_volumes=getattr(args, "renew_anon_volumes", False),
    )


def _check_up_flags(args: argparse.Namespace) -> None:
    """Docker Compose's rules for up's flags (--exit-code-from implies --abort-on-container-exit,
    --wait implies -d)."""
    if args.wait_timeout is not None and args.wait_timeout < 0:
        raise InvalidArgument("--wait-timeout must be a non-negative integer")
    if args.exit_code_from and not args.abort_on_container_failure:
        args.abort_on_container_exit = True
    if args.abort_on_container_exit and args.abort_on_container_failure:
        raise InvalidArgument(
            "--abort-on-container-failure cannot be combined with --abort-on-container-exit"
        )
    if args.wait:
        if args.abort_on_container_exit or args.attach:
            raise InvalidArgument("--wait cannot be combined with --abort-on-container-exit, --attach")
        args.detach = True
    attaching = args.abort_on_container_exit or args.abort_on_container_failure or args.attach
    if args.detach and attaching:
        raise InvalidArgument(
            "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure"
            " or --attach"
        )
    if args.renew_anon_volumes and args.no_recreate:
        raise InvalidArgument("--no-recreate and --renew-anon-volumes are incompatible")


def cmd_up(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import lifecycle

    _check_up_flags(args)
    request = _up_request(args, start=not args.no_start)
    project = _load_for(cli, args, request)
    if args.exit_code_from and args.exit_code_from not in project.services:
        raise InvalidArgument(f"no such service: {args.exit_code_from}")
    engine = backend(cli)
    progress = _progress(cli)
    try:
        result = lifecycle.up(engine, project, request, progress, every_service=_every_service(cli, args))
    finally:
        progress.close()
    if args.detach or args.no_start:
        return exitcodes.OK
    from cove.cli.compose_attach import attached

    return attached(cli, args, engine, project, result)


def _every_service(cli: Cli, args: argparse.Namespace) -> Callable[[], Collection[str]]:
    """The services of every profile (a disabled service's containers are no orphans)."""

    def every() -> Collection[str]:
        from dataclasses import replace

        from cove.compose.loader import load_tree
        from cove.compose.options import STDIN

        if STDIN in args.compose_files:
            return ()  # (read once already)

        options = replace(options_of(cli, args), profiles=("*",))
        return set(load_tree(options)["services"])

    return every


def _load_for(cli: Cli, args: argparse.Namespace, request: Any) -> Project:
    """The project, with the request's --scale checked against it (before the engine opens)."""
    project = load(cli, args, args.services)
    for name in request.scale:
        if name not in project.services:
            raise InvalidArgument(f"no such service: {name}")
    return project


def cmd_create(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import lifecycle

    request = _up_request(args, start=False)
    project = _load_for(cli, args, request)
    progress = _progress(cli)
    try:
        lifecycle.up(backend(cli), project, request, progress, every_service=_every_service(cli, args))
    finally:
        progress.close()
    return exitcodes.OK


def _project_or_name(cli: Cli, args: argparse.Namespace) -> tuple[str, Project | None]:
    """The model, or (``down -p NAME`` with no compose file around) only the project's name."""
    from cove.compose.errors import ComposeError

    try:
        project = load(cli, args)
    except ComposeError:
        name = getattr(args, "compose_project_name", None) or cli.env.get("COMPOSE_PROJECT_NAME")
        if not name:
            raise
        return name, None
    return project.name, project


def cmd_down(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import lifecycle

    name, project = _project_or_name(cli, args)
    progress = _progress(cli)
    try:
        lifecycle.down(
            backend(cli),
            name,
            project,
            progress,
            remove_orphans=args.remove_orphans,
            volumes=args.volumes,
            timeout=args.timeout,
            services=args.services,
            rmi=args.rmi,
        )
    finally:
        progress.close()
    return exitcodes.OK


def cmd_start(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import lifecycle

    project = load(cli, args, args.services)
    progress = _progress(cli)
    engine = backend(cli)
    try:
        ids = lifecycle.start(engine, project, args.services, progress)
        if args.wait:
            lifecycle.wait_ready(engine, project, ids, progress, timeout=args.wait_timeout)
    finally:
        progress.close()
    return exitcodes.OK


def cmd_stop(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import lifecycle

    project = load(cli, args, args.services)
    progress = _progress(cli)
    try:
        lifecycle.stop(backend(cli), project, args.services, progress, timeout=args.timeout)
    finally:
        progress.close()
    return exitcodes.OK


def _each(cli: Cli, args: argparse.Namespace, verb: str, words: tuple[str, str], **kw: Any) -> int:
    from cove.compose import lifecycle

    project = load(cli, args, args.services)
    services = list(args.services)
    if verb == "restart" and services and not args.no_deps:
        from cove.compose import graph

        # (Docker Compose restarts what depends on a restarted service too, after it)
        services = sorted(graph.dependents(project, services))
    engine = backend(cli)
    verbs = {
        "restart": lambda c: engine.restart_container(c.id, timeout=getattr(args, "timeout", None)),
        "kill": lambda c: engine.kill_container(c.id, getattr(args, "signal", "SIGKILL")),
        "pause": lambda c: engine.pause_container(c.id),
        "unpause": lambda c: engine.unpause_container(c.id),
    }
    progress = _progress(cli)
    try:
        lifecycle.each(engine, project, services, progress, verbs[verb], words, **kw)
    finally:
        progress.close()
    return exitcodes.OK


def cmd_restart(cli: Cli, args: argparse.Namespace) -> int:
    return _each(cli, args, "restart", ("Restarting", "Started"))


def cmd_kill(cli: Cli, args: argparse.Namespace) -> int:
    from cove.engine.container_types import Status

    code = _each(
        cli, args, "kill", ("Killing", "Killed"), which=lambda c: c.status is Status.RUNNING, reverse=True
    )
    if args.remove_orphans:
        from cove.compose import executor
        from cove.compose.state import observe

        project = load(cli, args)
        engine = backend(cli)
        orphans = observe(engine, project.name).orphans(project.services)
        progress = _progress(cli)
        try:
            executor.for_each(orphans, lambda c: executor.remove_one(engine, c, progress, timeout=0))
        finally:
            progress.close()
    return code


def cmd_pause(cli: Cli, args: argparse.Namespace) -> int:
    from cove.engine.container_types import Status

    return _each(cli, args, "pause", ("Pausing", "Paused"), which=lambda c: c.status is Status.RUNNING)


def cmd_unpause(cli: Cli, args: argparse.Namespace) -> int:
    from cove.engine.container_types import Status

    return _each(cli, args, "unpause", ("Unpausing", "Unpaused"), which=lambda c: c.status is Status.PAUSED)


def cmd_rm(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose import executor, lifecycle
    from cove.compose.state import observe

    project = load(cli, args, args.services)
    engine = backend(cli)
    if args.stop:
        progress = _progress(cli)
        try:
            lifecycle.stop(engine, project, args.services, progress)
        finally:
            progress.close()
    found = lifecycle.selected(observe(engine, project.name), project, args.services)
    doomed = [c for cs in found.values() for c in cs if not c.running]
    if not doomed:
        cli.err.write("No stopped containers\n")
        return exitcodes.OK
    if not args.force and not cli.confirm(
        "Going to remove " + ", ".join(c.name for c in doomed) + "\n? Are you sure?"
    ):
        return exitcodes.OK
    progress = _progress(cli)
    try:
        executor.for_each(
            doomed, lambda c: executor.remove_one(engine, c, progress, remove=True, volumes=args.volumes)
        )
    finally:
        progress.close()
    return exitcodes.OK

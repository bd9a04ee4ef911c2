"""`cove compose` build, pull, push."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.commands import compose
from cove.cli.parser import UsageError

if TYPE_CHECKING:
    from cove.compose.model import Project
    from cove.compose.progress import Event, Report
    from cove.engine.build import BuildEvent

_SYMBOLS = {"working": " ", "done": "✔", "warning": "!", "error": "✘"}


def plain_report(err: TextIO) -> Report:
    """Progress as plain lines, one per event (`` ✔ Image busybox Pulled``): the stand-in for
    the live renderer, on a terminal or not."""
    lock = threading.Lock()

    def report(event: Event) -> None:
        detail = f" {event.detail}" if event.detail else ""
        line = f" {_SYMBOLS[event.phase.value]} {event.kind.value} {event.name} {event.status}{detail}\n"
        with lock:
            err.write(line)
            err.flush()

    return report


def _quiet(event: Event) -> None:
    pass


def _selected(project: Project, services: Sequence[str], with_dependencies: bool) -> list[str]:
    """The services named (all when none), with what they depend on when asked."""
    chosen = list(services) or list(project.services)
    if not with_dependencies:
        return chosen
    out: list[str] = []
    todo = list(chosen)
    while todo:
        name = todo.pop(0)
        if name in out or name not in project.services:
            continue
        out.append(name)
        todo += [d.service for d in project.services[name].depends_on]
    return [n for n in project.services if n in out]


# -- build ----------------------------------------------------------------------------------


def _build_args(values: list[str] | None) -> dict[str, str | None]:
    """--build-arg KEY=VALUE; a bare KEY takes its value from the project's environment (or is
    left out without one), as a build arg without a value in the file does."""
    out: dict[str, str | None] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: use KEY=VALUE", "cove compose build")
        out[key] = value if eq else None
    return out


def _build_log(err: TextIO) -> Any:
    lock = threading.Lock()

    def log(service: str, event: BuildEvent) -> None:
        if event.kind == "output":
            line = f"#{event.step} [{service}] {event.text.rstrip()}\n"
        elif event.kind in ("start", "cached", "error"):
            tail = (
                " CACHED"
                if event.kind == "cached"
                else (f" ERROR: {event.text}" if event.kind == "error" else "")
            )
            line = f"#{event.step} [{service}] {event.name}{tail}\n"
        else:
            return
        with lock:
            err.write(line)

    return log


def cmd_build(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose.images import BuildOptions, build_services

    project = compose.load(cli, args, args.services)
    names = _selected(project, args.services, args.with_dependencies)
    services = [project.services[n] for n in names if project.services[n].build is not None]
    if not services:
        cli.err.write("WARN[0000] No services to build\n")
        return exitcodes.OK
    options = BuildOptions(no_cache=args.no_cache, pull=args.pull, build_args=_build_args(args.build_arg))
    report = _quiet if args.quiet else plain_report(cli.err)
    build_services(
        compose.backend(cli),
        project,
        services,
        options=options,
        report=report,
        build_log=None if args.quiet else _build_log(cli.err),
    )
    return exitcodes.OK


def _add_build(group: Any) -> None:
    p = group.add_parser("build", help="Build or rebuild services")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--no-cache", action="store_true", help="do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="always attempt to pull a newer version of the image")
    p.add_argument("--build-arg", action="append", metavar="KEY=VALUE", help="set build-time variables")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the build output")
    p.add_argument("--with-dependencies", action="store_true", help="also build dependencies (transitively)")
    p.set_defaults(handler=cmd_build)


# -- pull -----------------------------------------------------------------------------------


def cmd_pull(cli: Cli, args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from cove.compose.images import image_name, local_image, pull_images, should_pull_command
    from cove.compose.model import PullPolicy
    from cove.compose.progress import Event, Kind, Phase

    if args.policy not in (None, "missing", "always"):
        raise UsageError(
            f'invalid --policy option "{args.policy}": use missing or always', "cove compose pull"
        )
    project = compose.load(cli, args, args.services)
    names = _selected(project, args.services, args.include_deps)
    report = _quiet if args.quiet else plain_report(cli.err)
    backend = compose.backend(cli)
    now = time.time()
    wanted: list[str] = []
    platforms: dict[str, str | None] = {}
    buildable: set[str] = set()
    for name in names:
        service = project.services[name]
        if args.policy and service.image:
            service = dataclasses.replace(service, pull_policy=PullPolicy(args.policy), pull_refresh=None)
        if not service.image:
            report(Event(Kind.SERVICE, name, "Skipped", Phase.DONE, "No image to be pulled"))
            continue
        image = image_name(project, service)
        pull, why = should_pull_command(service, local_image(backend, image), now)
        if not pull:
            report(Event(Kind.IMAGE, image, "Skipped", Phase.DONE, why))
            continue
        if service.build is not None:
            if args.ignore_buildable:
                report(Event(Kind.IMAGE, image, "Skipped", Phase.DONE, "Image can be built"))
                continue
            buildable.add(image)
        if image not in wanted:
            wanted.append(image)
            platforms[image] = service.platform or project.environment.get("DOCKER_DEFAULT_PLATFORM")
    failures = pull_images(
        backend,
        wanted,
        report,
        can_build=buildable,
        ignore_failures=args.ignore_pull_failures,
        platforms=platforms,
    )
    must_build = [n for n in names if image_name(project, project.services[n]) in failures.keys() & buildable]
    if must_build:
        cli.err.write(
            "WARN[0000] WARNING: Some service image(s) must be built from source by running:\n"
            f"    cove compose build {' '.join(must_build)}\n"
        )
    if failures and not args.ignore_pull_failures:
        raise next(iter(failures.values()))
    return exitcodes.OK


def _add_pull(group: Any) -> None:
    p = group.add_parser("pull", help="Pull service images")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-q", "--quiet", action="store_true", help="pull without printing progress information")
    p.add_argument("--include-deps", action="store_true", help="also pull services declared as dependencies")
    p.add_argument(
        "--ignore-pull-failures",
        action="store_true",
        help="pull what it can and ignore images with pull failures",
    )
    p.add_argument("--ignore-buildable", action="store_true", help="ignore images that can be built")
    p.add_argument("--policy", metavar="POLICY", help='apply pull policy ("missing"|"always")')
    p.set_defaults(handler=cmd_pull)


# -- push -----------------------------------------------------------------------------------


def cmd_push(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose.images import push_services

    project = compose.load(cli, args, args.services)
    names = _selected(project, args.services, args.include_deps)
    report = _quiet if args.quiet else plain_report(cli.err)
    push_services(
        compose.backend(cli), project, names, ignore_failures=args.ignore_push_failures, report=report
    )
    return exitcodes.OK


def _add_push(group: Any) -> None:
    p = group.add_parser("push", help="Push service images")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--ignore-push-failures", action="store_true", help="push what it can and ignore failures")
    p.add_argument(
        "--include-deps", action="store_true", help="also push images of services declared as dependencies"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="push without printing progress information")
    p.set_defaults(handler=cmd_push)


def register(group: Any) -> None:
    _add_build(group)
    _add_pull(group)
    _add_push(group)

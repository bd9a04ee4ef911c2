"""`cove compose`: the compose front end's commands, and what they share (the project's options,
the loaded project, the engine backend).

Each family of commands has its own module, registered here: ``compose_up`` (up, down, create,
start, stop, restart, kill, rm, pause, unpause), ``compose_ops`` (ps, logs, exec, run, top,
images, port, ls, events, wait, cp, version), ``compose_images`` (build, pull, push) and
``compose_watch`` (watch).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cove.cli import exitcodes
from cove.cli.app import Cli

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.compose.model import Project


def register_options(group: Any) -> None:
    """The options of `cove compose` itself, given before the command as Docker Compose takes them."""
    group.add_argument(
        "-f",
        "--file",
        dest="compose_files",
        action="append",
        default=[],
        metavar="FILE",
        help="a compose file (several merge in order; - reads standard input)",
    )
    group.add_argument(
        "-p",
        "--project-name",
        dest="compose_project_name",
        metavar="NAME",
        help="the project name (default: the top-level name:, else the directory's)",
    )
    group.add_argument(
        "--project-directory",
        dest="compose_project_directory",
        metavar="DIR",
        help="the project's working directory (default: the first compose file's)",
    )
    group.add_argument(
        "--env-file",
        dest="compose_env_files",
        action="append",
        default=[],
        metavar="FILE",
        help="an environment file for interpolation (default: .env)",
    )
    group.add_argument(
        "--profile",
        dest="compose_profiles",
        action="append",
        default=[],
        metavar="PROFILE",
        help="a profile to enable (also COMPOSE_PROFILES)",
    )


def register(group: Any) -> None:
    from cove.cli.commands import compose_images, compose_ops, compose_up, compose_watch

    register_config(group)
    compose_up.register(group)
    compose_ops.register(group)
    compose_images.register(group)
    compose_watch.register(group)


def register_config(group: Any) -> None:
    p = group.add_parser("config", help="Parse, resolve and render the compose file in canonical format")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.add_argument("-q", "--quiet", action="store_true", help="only validate the configuration")
    p.add_argument("--services", dest="list_services", action="store_true", help="print the service names")
    p.add_argument("--volumes", dest="list_volumes", action="store_true", help="print the volume names")
    p.add_argument("--profiles", dest="list_profiles", action="store_true", help="print the profile names")
    p.add_argument("--images", dest="list_images", action="store_true", help="print the image names")
    p.add_argument("--hash", metavar="SERVICES", help='print the config hash of these services ("*": all)')
    p.add_argument("--no-interpolate", action="store_true", help="do not interpolate environment variables")
    p.add_argument("-o", "--output", metavar="PATH", help="save to this file")
    p.set_defaults(handler=cmd_config)


def options_of(
    cli: Cli, args: argparse.Namespace, services: tuple[str, ...] = (), interpolate: bool = True
) -> Any:
    import os

    from cove.compose.options import ProjectOptions

    files = tuple(getattr(args, "compose_files", ()))
    read: list[str] = []

    def read_stdin(limit: int) -> str:
        """The standard input's text, read once (a project may be loaded twice)."""
        if not read:
            read.append(cli.stdin.read(limit))
        return read[0]

    return ProjectOptions(
        read_stdin=read_stdin,
        files=files,
        project_name=getattr(args, "compose_project_name", None),
        project_directory=getattr(args, "compose_project_directory", None),
        env_files=tuple(getattr(args, "compose_env_files", ())),
        profiles=tuple(getattr(args, "compose_profiles", ())),
        services=services,
        interpolate=interpolate,
        working_dir=os.getcwd(),
        environ=dict(cli.env),
        warn=lambda message: print(f"WARN[0000] {message}", file=cli.err),
    )


def load(cli: Cli, args: argparse.Namespace, services: Sequence[str] = ()) -> Project:
    """The project the command's options name (``services``: enabled whatever their profiles)."""
    from cove.compose.loader import load_project

    return load_project(options_of(cli, args, tuple(services)))


def backend(cli: Cli) -> EngineBackend:
    """The engine compose runs on: the local one, in this process."""
    from cove.engine.compose_backend import LocalBackend

    return LocalBackend(cli.engine())


def _print_hashes(cli: Cli, options: Any, wanted: str) -> int:
    """``config --hash``: ``<service> <config hash>`` per line, the hash ``up`` labels containers with."""
    from cove.compose.convert import config_hash
    from cove.compose.loader import load_project
    from cove.errors import NotFound

    project = load_project(options)
    names = list(project.services) if wanted == "*" else [n.strip() for n in wanted.split(",") if n.strip()]
    for name in names:
        if name not in project.services:
            raise NotFound(f"no such service: {name}")
    for name in names:
        cli.out.write(f"{name} {config_hash(project.services[name])}\n")
    return exitcodes.OK


def cmd_config(cli: Cli, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cove.compose.loader import load_tree
    from cove.compose.render import to_json, to_yaml

    options = options_of(cli, args, tuple(args.services), not args.no_interpolate)
    tree = load_tree(options)
    if args.services:
        from cove.compose.checks import with_dependencies

        keep = with_dependencies(tree["services"], args.services)
        tree["services"] = {k: v for k, v in tree["services"].items() if k in keep}
    if args.quiet:
        return exitcodes.OK
    services: dict[str, Any] = tree["services"]
    if args.hash is not None:
        return _print_hashes(cli, options, args.hash)
    if args.list_services:
        text = "\n".join(services)
    elif args.list_volumes:
        text = "\n".join(tree.get("volumes") or {})
    elif args.list_profiles:  # every profile the files name, whichever are on
        every = load_tree(replace(options, profiles=("*",)))["services"]
        text = "\n".join(sorted({p for s in every.values() for p in s.get("profiles") or ()}))
    elif args.list_images:
        text = "\n".join(s.get("image") or f"{tree['name']}-{n}" for n, s in services.items())
    else:
        text = to_json(tree) if args.format == "json" else to_yaml(tree)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    elif text:
        cli.out.write(text + "\n")
    return exitcodes.OK

"""``cove``: parse the command line, run the handler, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.parser import CoveArgumentParser, UsageError
from cove.errors import CoveError
from cove.version import __version__

DESCRIPTION = """\
A container platform: OCI images, containers, builds, compose and virtual machines.
Commands and flags follow Docker's, so `cove images` does what `docker images` does.

Environment:
  COVE_ROOT          where images and containers are stored (default /var/lib/cove)
  COVE_RUNTIME_DIR   runtime state (default /run/cove)
  COVE_CONFIG        a TOML config file (default /etc/cove/cove.toml when present)
  COVE_DEBUG=1       print a traceback on internal errors
"""


# Which module defines each command, so that only that module is imported and only that
# command's parser is built: `cove run` must not pay for the other eighty parsers.
_CONTAINER_LIFECYCLE = (
    "run create start stop kill restart rm remove wait pause unpause rename ps ls list inspect prune"
).split()
_CONTAINER_IO = "logs attach exec top stats diff commit cp export update".split()
TOP_COMMANDS: dict[str, str] = {
    **{name: "containers" for name in ("run", "create", "start", "stop", "kill", "restart", "rm", "wait",
                                       "pause", "unpause", "rename", "ps", "inspect")},
    **{name: "container_io" for name in _CONTAINER_IO},
    **{name: "images" for name in ("images", "rmi", "tag", "history", "import", "save", "load")},
    **{name: "registry" for name in ("pull", "push", "login", "logout")},
    "port": "networks",
    "build": "build",
    "info": "system",
    "version": "system",
}  # fmt: skip
GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "container": (
        "Manage containers",
        {
            **{n: "containers" for n in _CONTAINER_LIFECYCLE},
            **{n: "container_io" for n in _CONTAINER_IO},
            "port": "networks",
        },
    ),
    "image": (
        "Manage images",
        {
            **{
                n: "images"
                for n in "ls list inspect rm remove tag history prune import save load bootstrap".split()
            },
            "pull": "registry",
            "push": "registry",
            "build": "build",
        },
    ),
    "builder": ("Manage builds", {"prune": "build"}),
    "volume": ("Manage volumes", {n: "volumes" for n in "create ls list inspect rm remove prune".split()}),
    "network": (
        "Manage networks",
        {n: "networks" for n in "create ls list inspect rm remove prune connect disconnect".split()},
    ),
    "system": ("Manage cove", {n: "system" for n in ("info", "df", "prune")}),
    "compose": (
        "Define and run multi-container applications",
        {
            n: "compose"
            for n in (
                "config up down create start stop restart kill rm pause unpause ps logs exec run top "
                "images port ls events wait cp version build pull push watch"
            ).split()
        },
    ),
}


class _SkippedParser:
    """Stands in for the parser of a command that this run does not need."""

    def add_argument(self, *args: object, **kw: object) -> None:
        pass

    def set_defaults(self, **kw: object) -> None:
        pass


class _Only:
    """A subparsers action that builds only the wanted commands (None: all of them)."""

    def __init__(self, action: argparse._SubParsersAction, wanted: set[str] | None) -> None:  # type: ignore[type-arg]
        self.action = action
        self.wanted = wanted

    def add_parser(self, name: str, **kw: Any) -> Any:
        names = {name, *kw.get("aliases", ())}
        if self.wanted is None or names & self.wanted:
            return self.action.add_parser(name, **kw)
        return _SkippedParser()


def _command_words(argv: Sequence[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")][:2]


def build_parser(argv: Sequence[str] | None = None) -> CoveArgumentParser:
    """The parser for ``argv``'s command, or for every command when it is not clear which."""
    words = _command_words(sys.argv[1:] if argv is None else argv)
    top_wanted: set[str] | None = None
    group_wanted: dict[str, set[str] | None] = {g: None for g in GROUPS}
    modules = {
        "build",
        "compose",
        "containers",
        "container_io",
        "images",
        "networks",
        "registry",
        "system",
        "volumes",
    }
    if words and words[0] in TOP_COMMANDS:
        top_wanted, modules = {words[0]}, {TOP_COMMANDS[words[0]]}
        group_wanted = {}
    elif len(words) > 1 and words[0] in GROUPS and words[1] in GROUPS[words[0]][1]:
        top_wanted, modules = set(), {GROUPS[words[0]][1][words[1]]}
        group_wanted = {words[0]: {words[1]}}
    elif words and words[0] in GROUPS:
        top_wanted, modules = set(), set(GROUPS[words[0]][1].values())
        group_wanted = {words[0]: None}

    parser = CoveArgumentParser(prog="cove", description=DESCRIPTION)
    parser.add_argument("-v", "--version", action="version", version=f"cove version {__version__}")
    top = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CoveArgumentParser)
    groups: dict[str, Any] = {}
    group_parsers: dict[str, Any] = {}
    for name, (help_text, _) in GROUPS.items():
        if name in group_wanted:
            group = top.add_parser(name, help=help_text, description=help_text)
            action = group.add_subparsers(
                title="commands", metavar="COMMAND", parser_class=CoveArgumentParser
            )
            group.set_defaults(handler=_help_of(group))
            group_parsers[name] = group
            groups[name] = _Only(action, group_wanted[name])
        else:
            groups[name] = _Only(top, set())
    top_only = _Only(top, top_wanted)
    if "containers" in modules:
        from cove.cli.commands import containers

        containers.register(top_only, groups["container"])
    if "container_io" in modules:
        from cove.cli.commands import container_io

        container_io.register(top_only, groups["container"])
    if "volumes" in modules:
        from cove.cli.commands import volumes

        volumes.register(groups["volume"])
    if "networks" in modules:
        from cove.cli.commands import networks

        networks.register(groups["network"])
        networks.register_port(top_only, groups["container"])
    if "images" in modules:
        from cove.cli.commands import images

        images.register(top_only, groups["image"])
    if "registry" in modules:
        from cove.cli.commands import registry

        registry.register(top_only, groups["image"])
    if "build" in modules:
        from cove.cli.commands import build

        build.register(top_only, groups["image"], groups["builder"])
    if "system" in modules:
        from cove.cli.commands import system

        system.register(top_only, groups["system"])
    if "compose" in modules:
        from cove.cli.commands import compose

        if "compose" in group_parsers:
            compose.register_options(group_parsers["compose"])
        compose.register(groups["compose"])
    parser.set_defaults(handler=_help_of(parser))
    return parser


def _help_of(parser: argparse.ArgumentParser) -> exitcodes.Handler:
    def show(cli: Cli, args: argparse.Namespace) -> int:
        parser.print_help(cli.out)
        return 0

    return show


def _explain(cli: Cli, exc: BaseException) -> CoveError | None:
    """A failure in the engine's terms (a full disk is said as such, whatever hit it)."""
    from cove.engine.failures import explain

    try:
        root = cli.config.root
    except CoveError:
        root = None
    return explain(exc, root)


def main(
    argv: Sequence[str] | None = None, cli: Cli | None = None, parser: CoveArgumentParser | None = None
) -> int:
    """Run one command; ``parser`` is one built beforehand for every command (the command server's)."""
    cli = cli or Cli()
    parser = parser or build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        cli.err.write(f"Error: {exc.message}\nSee '{exc.prog} --help'.\n")
        return exitcodes.USAGE
    try:
        return int(args.handler(cli, args) or 0)
    except UsageError as exc:
        cli.err.write(f"Error: {exc.message}\n")
        return exitcodes.USAGE
    except exitcodes.Failure as exc:
        cli.err.write(exitcodes.describe(exc.error) + "\n")
        return exc.code
    except CoveError as exc:
        known = _explain(cli, exc) or exc
        if known is not exc and cli.env.get("COVE_DEBUG"):
            import traceback

            traceback.print_exception(exc, file=cli.err)
        cli.err.write(exitcodes.describe(known) + "\n")
        return exitcodes.for_error(known)
    except KeyboardInterrupt:
        cli.err.write("\n")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (cove images | head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.OK
    except Exception as exc:  # a bug (one line, and the traceback on request), or a full disk
        explained = _explain(cli, exc)
        if explained is not None:
            if cli.env.get("COVE_DEBUG"):
                import traceback

                traceback.print_exception(exc, file=cli.err)
            cli.err.write(exitcodes.describe(explained) + "\n")
            return exitcodes.for_error(explained)
        if cli.env.get("COVE_DEBUG"):
            raise
        cli.err.write(f"Error: internal error: {type(exc).__name__}: {exc}\n")
        cli.err.write("Hint: set COVE_DEBUG=1 to see the traceback, and please report it\n")
        return exitcodes.ENGINE
    finally:
        cli.warn_cleanup()  # what a cleanup during the command found
        cli.close()

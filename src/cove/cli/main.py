"""``cove``: parse the command line, run the handler, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.commands import images, system
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


def build_parser() -> CoveArgumentParser:
    parser = CoveArgumentParser(prog="cove", description=DESCRIPTION)
    parser.add_argument("-v", "--version", action="version", version=f"cove version {__version__}")
    top = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CoveArgumentParser)
    image_group = top.add_parser("image", help="Manage images", description="Manage images")
    image_sub = image_group.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=CoveArgumentParser
    )
    image_group.set_defaults(handler=_help_of(image_group))
    system_group = top.add_parser("system", help="Manage cove", description="Manage cove")
    system_sub = system_group.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=CoveArgumentParser
    )
    system_group.set_defaults(handler=_help_of(system_group))
    images.register(top, image_sub)
    system.register(top, system_sub)
    parser.set_defaults(handler=_help_of(parser))
    return parser


def _help_of(parser: argparse.ArgumentParser) -> exitcodes.Handler:
    def show(cli: Cli, args: argparse.Namespace) -> int:
        parser.print_help(cli.out)
        return 0

    return show


def main(argv: Sequence[str] | None = None, cli: Cli | None = None) -> int:
    cli = cli or Cli()
    parser = build_parser()
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
    except CoveError as exc:
        cli.err.write(exitcodes.describe(exc) + "\n")
        return exitcodes.for_error(exc)
    except KeyboardInterrupt:
        cli.err.write("\n")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (cove images | head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.OK
    except Exception as exc:  # a bug: one line, and the traceback on request
        if cli.env.get("COVE_DEBUG"):
            raise
        cli.err.write(f"Error: internal error: {type(exc).__name__}: {exc}\n")
        cli.err.write("Hint: set COVE_DEBUG=1 to see the traceback, and please report it\n")
        return exitcodes.ENGINE
    finally:
        cli.close()

"""Volume commands: volume create, ls, inspect, rm, prune."""

from __future__ import annotations

import argparse
from typing import Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.output import inspect_each, inspect_template, print_inspected, render
from cove.cli.parser import Subparsers, parse_filters
from cove.cli.prune import render_prune
from cove.errors import CoveError

VOLUMES_TABLE = "table {{.Driver}}\t{{.Name}}"
VOLUME_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS"}


def _shape(volume: Any) -> dict[str, Any]:
    from cove.oci.timestamps import format_rfc3339

    return {
        "CreatedAt": format_rfc3339(volume.created),
        "Driver": volume.driver,
        "Labels": volume.labels or None,
        "Mountpoint": str(volume.mountpoint),
        "Name": volume.name,
        "Options": volume.options or None,
        "Scope": "local",
    }


def _labels(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def cmd_create(cli: Cli, args: argparse.Namespace) -> int:
    name = args.name_flag or args.name
    volume = cli.engine().volumes.create(
        name, driver=args.driver, labels=_labels(args.label), options=_labels(args.opt)
    )
    cli.print(volume.name)
    return exitcodes.OK


def cmd_ls(cli: Cli, args: argparse.Namespace) -> int:
    rows = [
        {
            "Driver": v.driver,
            "Labels": ",".join(f"{k}={x}" for k, x in v.labels.items()),
            "Mountpoint": str(v.mountpoint),
            "Name": v.name,
            "Scope": "local",
        }
        for v in cli.engine().volumes.list_volumes(parse_filters(args.filter))
    ]
    render(
        rows,
        args.format,
        default=VOLUMES_TABLE,
        headers=VOLUME_HEADERS,
        out=cli.out,
        quiet=args.quiet,
        quiet_field="Name",
    )
    return exitcodes.OK


def cmd_inspect(cli: Cli, args: argparse.Namespace) -> int:
    template = inspect_template(args.format)
    engine = cli.engine()
    found, failed = inspect_each(args.volumes, lambda name: _shape(engine.volumes.get(name)), cli.err)
    print_inspected(found, template, cli.out)
    return exitcodes.FAILED if failed else exitcodes.OK


def cmd_rm(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    status = exitcodes.OK
    for name in args.volumes:
        try:
            engine.volumes.remove(name, force=args.force)
            cli.print(name)
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.FAILED
    return status


def cmd_prune(cli: Cli, args: argparse.Namespace) -> int:
    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if args.all
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not args.force and not cli.confirm(warning):
        return exitcodes.OK
    render_prune(cli.engine().volumes.prune(all=args.all, filters=parse_filters(args.filter)), cli.out)
    return exitcodes.OK


def register(volume: Subparsers) -> None:
    p = volume.add_parser("create", help="Create a volume", description="Create a volume")
    p.add_argument("name", nargs="?", metavar="VOLUME")
    p.add_argument("--name", dest="name_flag", help="the volume's name")
    p.add_argument("-d", "--driver", default="local", help="volume driver (local)")
    p.add_argument("-l", "--label", action="append", default=[], help="set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    p.set_defaults(handler=cmd_create)

    p = volume.add_parser(
        "ls",
        aliases=["list"],
        help="List volumes",
        description="List volumes. Filters: dangling=true|false, name=, label=KEY[=VALUE], driver=",
    )
    p.add_argument("-f", "--filter", action="append", help="filter output (key=value)")
    p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    p.set_defaults(handler=cmd_ls)

    p = volume.add_parser(
        "inspect", help="Display detailed information on volumes", description="Inspect volumes"
    )
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--format", help="'json' or a Go template")
    p.set_defaults(handler=cmd_inspect)

    p = volume.add_parser("rm", aliases=["remove"], help="Remove volumes", description="Remove volumes")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--force", action="store_true", help="force the removal of one or more volumes")
    p.set_defaults(handler=cmd_rm)

    p = volume.add_parser("prune", help="Remove unused local volumes", description="Remove unused volumes")
    p.add_argument(
        "-a", "--all", action="store_true", help="remove all unused volumes, not just anonymous ones"
    )
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", help="provide filter values (e.g. label=<label>)")
    p.set_defaults(handler=cmd_prune)

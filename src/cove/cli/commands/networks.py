"""Network commands: network create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import argparse
from typing import Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.output import inspect_each, inspect_template, print_inspected, render
from cove.cli.parser import Subparsers, parse_filters
from cove.cli.prune import render_prune
from cove.errors import CoveError, InvalidArgument

NETWORKS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value if eq else ""
    return out


def cmd_create(cli: Cli, args: argparse.Namespace) -> int:
    if len(args.subnet) > 1 or len(args.gateway) > 1 or len(args.ip_range) > 1:
        raise InvalidArgument("cove networks take one IPv4 subnet (one --subnet, --gateway, --ip-range)")
    record = cli.engine().networks.create(
        args.name,
        driver=args.driver,
        subnet=args.subnet[0] if args.subnet else None,
        gateway=args.gateway[0] if args.gateway else None,
        ip_range=args.ip_range[0] if args.ip_range else None,
        internal=args.internal,
        labels=_pairs(args.label, "label"),
        options=_pairs(args.opt, "option"),
    )
    cli.print(record.id)
    return exitcodes.OK


def cmd_ls(cli: Cli, args: argparse.Namespace) -> int:
    from cove.oci.timestamps import format_rfc3339

    rows = [
        {
            "ID": n.id if args.no_trunc else n.id[:12],
            "Name": n.name,
            "Driver": n.driver,
            "Scope": "local",
            "IPv6": "false",
            "Internal": str(n.internal).lower(),
            "Labels": ",".join(f"{k}={v}" for k, v in n.labels.items()),
            "CreatedAt": format_rfc3339(n.created),
        }
        for n in cli.engine().networks.list_networks(parse_filters(args.filter))
    ]
    render(
        rows,
        args.format,
        default=NETWORKS_TABLE,
        headers=NETWORK_HEADERS,
        out=cli.out,
        quiet=args.quiet,
        quiet_field="ID",
    )
    return exitcodes.OK


def cmd_inspect(cli: Cli, args: argparse.Namespace) -> int:
    from cove.api.shapes import network as network_shape

    template = inspect_template(args.format)
    networks = cli.engine().networks

    def shape(ref: str) -> dict[str, Any]:
        record = networks.get(ref)
        endpoints = networks.endpoints(record)
        names = {e.container_id: networks.container_name(e.container_id) for e in endpoints}
        return network_shape(record, endpoints, names)

    found, failed = inspect_each(args.networks, shape, cli.err)
    print_inspected(found, template, cli.out)
    return exitcodes.FAILED if failed else exitcodes.OK


def cmd_rm(cli: Cli, args: argparse.Namespace) -> int:
    networks = cli.engine().networks
    status = exitcodes.OK
    for ref in args.networks:
        try:
            networks.remove(ref)
            cli.print(ref)
        except CoveError as exc:
            if args.force and exc.kind.name == "NOT_FOUND":
                continue
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.FAILED
    return status


def cmd_prune(cli: Cli, args: argparse.Namespace) -> int:
    if not args.force and not cli.confirm(
        "WARNING! This will remove all custom networks not used by at least one container."
    ):
        return exitcodes.OK
    render_prune(cli.engine().networks.prune(parse_filters(args.filter)), cli.out)
    return exitcodes.OK


def cmd_connect(cli: Cli, args: argparse.Namespace) -> int:
    cli.engine().containers.connect(args.network, args.container, aliases=args.alias, ip=args.ip)
    return exitcodes.OK


def cmd_disconnect(cli: Cli, args: argparse.Namespace) -> int:
    try:
        cli.engine().containers.disconnect(args.network, args.container)
    except CoveError:
        if not args.force:
            raise
    return exitcodes.OK


def register(network: Subparsers) -> None:
    p = network.add_parser(
        "create",
        help="Create a network",
        description="Create a bridge network: its own bridge on the host, a subnet (picked from "
        "172.17-31.0.0/16 and 192.168.0.0/16 unless given), name resolution between its containers.",
    )
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help="driver to manage the network (bridge)")
    p.add_argument("--subnet", action="append", default=[], help="subnet in CIDR format")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 gateway for the subnet")
    p.add_argument("--ip-range", action="append", default=[], help="allocate container IPs from a sub-range")
    p.add_argument("--internal", action="store_true", help="restrict external access to the network")
    p.add_argument("--label", action="append", default=[], help="set metadata on a network")
    p.add_argument(
        "-o",
        "--opt",
        action="append",
        default=[],
        help="driver options (com.docker.network.bridge.name=NAME)",
    )
    p.set_defaults(handler=cmd_create)

    p = network.add_parser(
        "ls",
        aliases=["list"],
        help="List networks",
        description="List networks. Filters: name=, id=, label=KEY[=VALUE], driver=, type=custom|builtin, "
        "dangling=true|false",
    )
    p.add_argument("-f", "--filter", action="append", help="provide filter values (e.g. driver=bridge)")
    p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    p.set_defaults(handler=cmd_ls)

    p = network.add_parser(
        "inspect", help="Display detailed information on one or more networks", description="Inspect networks"
    )
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--format", help="'json' or a Go template")
    p.set_defaults(handler=cmd_inspect)

    p = network.add_parser(
        "rm", aliases=["remove"], help="Remove one or more networks", description="Remove networks"
    )
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--force", action="store_true", help="do not error if the network does not exist")
    p.set_defaults(handler=cmd_rm)

    p = network.add_parser("prune", help="Remove all unused networks", description="Remove unused networks")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", help="provide filter values (label=, label!=, until=)")
    p.set_defaults(handler=cmd_prune)

    p = network.add_parser(
        "connect", help="Connect a container to a network", description="Connect a container to a network"
    )
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument(
        "--alias", action="append", default=[], help="add a network-scoped alias for the container"
    )
    p.add_argument("--ip", help="IPv4 address")
    p.set_defaults(handler=cmd_connect)

    p = network.add_parser(
        "disconnect",
        help="Disconnect a container from a network",
        description="Disconnect a container from a network",
    )
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="force the container to disconnect")
    p.set_defaults(handler=cmd_disconnect)


def cmd_port(cli: Cli, args: argparse.Namespace) -> int:
    from cove.engine.requests import parse_expose

    bindings = cli.engine().containers.ports(args.container)
    if args.port:
        [(port, protocol)] = parse_expose(args.port)
        wanted = [b for b in bindings if (b.container_port, b.protocol) == (port, protocol)]
        if not wanted:
            raise InvalidArgument(f"no public port '{port}/{protocol}' published for {args.container}")
        for b in wanted:
            cli.print(f"{b.host_ip or '0.0.0.0'}:{b.host_port}")
        return exitcodes.OK
    for b in bindings:
        cli.print(f"{b.container_port}/{b.protocol} -> {b.host_ip or '0.0.0.0'}:{b.host_port}")
    return exitcodes.OK


def register_port(top: Subparsers, container: Subparsers) -> None:
    for sub in (top, container):
        p = sub.add_parser(
            "port",
            help="List port mappings or a specific mapping for the container",
            description="List a container's published ports, or where one of its ports is published",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
        p.set_defaults(handler=cmd_port)

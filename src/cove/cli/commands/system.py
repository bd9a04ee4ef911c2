"""System commands: info, version, system df/prune/info."""

from __future__ import annotations

import argparse
from typing import Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.commands.images import IMAGE_HEADERS, short_id
from cove.cli.humanize import bytes_size, human_size, since
from cove.cli.output import inspect_template, print_json, render
from cove.cli.parser import Subparsers
from cove.cli.prune import render_prune
from cove.cli.template import Template


def _format_one(cli: Cli, template: Template | None, data: dict[str, Any]) -> None:
    if template is None:
        print_json(data, cli.out)
    else:
        cli.print(template.render(data))


def cmd_info(cli: Cli, args: argparse.Namespace) -> int:
    from cove.api.shapes import info as info_shape

    template = inspect_template(args.format)
    info = cli.engine().system.info()
    if args.format:
        _format_one(cli, template, info_shape(info))
        return exitcodes.OK
    lines = [
        "Server:",
        f" Containers: {info.containers}",
        f"  Running: {info.containers_running}",
        f"  Paused: {info.containers_paused}",
        f"  Stopped: {info.containers_stopped}",
        f" Images: {info.images}",
        f" Server Version: {info.server_version}",
        f" Storage Driver: {info.driver}",
        f"  Backing Filesystem: {info.backing_filesystem}",
    ]
    if info.driver != "overlayfs":
        lines.append(f"  Why not overlayfs: {info.driver_reason}")
    lines += [
        " Logging Driver: json-file",
        " Cgroup Driver: cgroupfs",
        f" Cgroup Version: {info.cgroup_version}",
    ]
    if info.runtime:
        lines.append(f" Runtime: {info.runtime} {info.runtime_version} ({info.runtime_path})")
    else:
        lines.append(f" Runtime: none works here: {info.runtime_error}")
    for name, why in info.runtimes_rejected.items():
        lines.append(f"  {name}: not used: {why}")
    lines += [
        f" Kernel Version: {info.kernel_version}",
        f" Operating System: {info.operating_system}",
        " OSType: linux",
        f" Architecture: {info.architecture}",
        f" CPUs: {info.cpus}",
        f" Total Memory: {bytes_size(info.memory)}",
        f" Name: {info.name}",
        f" Cove Root Dir: {info.root}",
        f" Runtime Dir: {info.runtime_dir}",
        f" Config File: {info.config_file or '(none)'}",
        " Insecure Registries:",
        *(f"  {r}" for r in info.insecure_registries),
    ]
    if info.registry_mirrors:
        lines += [" Registry Mirrors:", *(f"  {m}" for m in info.registry_mirrors)]
    cli.print("\n".join(lines))
    return exitcodes.OK


def _add_info(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name, help="Display system-wide information", description="Display system-wide information"
    )
    p.add_argument("-f", "--format", help="'json' or a Go template")
    p.set_defaults(handler=cmd_info)


def cmd_version(cli: Cli, args: argparse.Namespace) -> int:
    from cove.api.shapes import version

    template = inspect_template(args.format)
    data = version()
    if args.format:
        _format_one(cli, template, data)
        return exitcodes.OK
    client, server = data["Client"], data["Server"]
    cli.print(
        "\n".join(
            [
                "Client: cove",
                f" Version:           {client['Version']}",
                f" API version:       {client['ApiVersion']}",
                f" Python version:    {client['PythonVersion']}",
                f" OS/Arch:           {client['Os']}/{client['Arch']}",
                "",
                "Server: cove",
                " Engine:",
                f"  Version:          {server['Version']}",
                f"  API version:      {server['ApiVersion']} (minimum version {server['MinAPIVersion']})",
                f"  Python version:   {server['PythonVersion']}",
                f"  OS/Arch:          {server['Os']}/{server['Arch']}",
                f"  Kernel version:   {server['KernelVersion']}",
            ]
        )
    )
    return exitcodes.OK


def _add_version(sub: Subparsers) -> None:
    p = sub.add_parser(
        "version", help="Show the cove version information", description="Show version information"
    )
    p.add_argument("-f", "--format", help="'json' or a Go template")
    p.set_defaults(handler=cmd_version)


DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
DF_IMAGES_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}"
    "\t{{.Containers}}"
)

DF_VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
DF_VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}


def cmd_df(cli: Cli, args: argparse.Namespace) -> int:
    usage = cli.engine().system.df()
    rows = []
    for row in usage.rows:
        percent = f" ({round(100 * row.reclaimable / row.size)}%)" if row.size else ""
        rows.append(
            {
                "Type": row.kind,
                "TotalCount": str(row.total),
                "Active": str(row.active),
                "Size": human_size(row.size, 4),
                "Reclaimable": human_size(row.reclaimable, 4) + percent,
            }
        )
    if not args.verbose:
        render(rows, args.format, default=DF_TABLE, headers=DF_HEADERS, out=cli.out)
        return exitcodes.OK
    cli.print("Images space usage:\n")
    image_rows = []
    for item in usage.images:
        s = item.summary
        for name in s.repo_tags or ["<none>:<none>"]:
            repo, _, tag = name.rpartition(":")
            image_rows.append(
                {
                    "Repository": repo,
                    "Tag": tag,
                    "ID": short_id(s.id, False),
                    "CreatedSince": since(s.created),
                    "Size": human_size(item.shared_size + item.unique_size, 4),
                    "SharedSize": human_size(item.shared_size, 4),
                    "UniqueSize": human_size(item.unique_size, 4),
                    "Containers": str(s.containers),
                }
            )
    render(image_rows, None, default=DF_IMAGES_TABLE, headers=IMAGE_HEADERS, out=cli.out)
    cli.print("\nLocal Volumes space usage:\n")
    volume_rows = [
        {"Name": v.name, "Links": str(v.links), "Size": human_size(v.size, 4)} for v in usage.volumes
    ]
    render(volume_rows, None, default=DF_VOLUMES_TABLE, headers=DF_VOLUME_HEADERS, out=cli.out)
    cli.print(f"\nTotal on disk (store, database included): {human_size(usage.store_bytes, 4)}")
    return exitcodes.OK


def _add_df(sub: Subparsers) -> None:
    p = sub.add_parser("df", help="Show cove disk usage", description="Show the disk space cove's store uses")
    p.add_argument("-v", "--verbose", action="store_true", help="show detailed information on space usage")
    p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template per row")
    p.set_defaults(handler=cmd_df)


def cmd_system_prune(cli: Cli, args: argparse.Namespace) -> int:
    warning = (
        "WARNING! This will remove:\n  - all stopped containers\n"
        + "  - all networks not used by at least one container\n"
        + (
            "  - all images without at least one container associated to them\n"
            if args.all
            else "  - all dangling images\n"
        )
        + "  - all unused build cache\n"
    )
    if not args.force and not cli.confirm(warning):
        return exitcodes.OK
    render_prune(cli.engine().system.prune(all=args.all), cli.out)
    return exitcodes.OK


def _add_system_prune(sub: Subparsers) -> None:
    p = sub.add_parser(
        "prune",
        help="Remove unused data",
        description="Remove unused images (dangling ones, or with -a all that no container uses), and "
        "whatever interrupted operations left behind.",
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="remove all unused images, not just dangling ones"
    )
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(handler=cmd_system_prune)


def register(top: Subparsers, system: Subparsers) -> None:
    _add_info(top, "info")
    _add_version(top)
    _add_info(system, "info")
    _add_df(system)
    _add_system_prune(system)

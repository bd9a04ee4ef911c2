"""Image commands: images, image ls/inspect/rm/tag/history/prune/import/save/load/bootstrap."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.humanize import human_size, local_time, since
from cove.cli.output import inspect_each, inspect_template, print_inspected, render
from cove.cli.parser import GoBool, Subparsers, UsageError, parse_filters
from cove.cli.prune import render_prune

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def short_id(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- images / image ls -------------------------------------------------------------


def cmd_images(cli: Cli, args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    summaries = cli.engine().images.list_images(all=args.all, filters=filters)
    rows: list[dict[str, Any]] = []
    for s in summaries:
        digests = dict(d.split("@", 1) for d in s.repo_digests)  # repository -> its digest
        # An image pulled by digest only shows its repository, with no tag (as Docker does).
        names = s.repo_tags or [f"{repo}:<none>" for repo in digests] or ["<none>:<none>"]
        for name in names:
            repo, _, tag = name.rpartition(":")
            digest = digests.get(repo, "<none>")
            rows.append(
                {
                    "Containers": str(s.containers) if s.containers else "N/A",
                    "CreatedAt": local_time(s.created),
                    "CreatedSince": since(s.created),
                    "Digest": digest,
                    "ID": short_id(s.id, args.no_trunc),
                    "Repository": repo,
                    "SharedSize": "N/A",
                    "Size": human_size(s.size),
                    "Tag": tag,
                    "UniqueSize": "N/A",
                    "VirtualSize": human_size(s.size, 4),
                }
            )
    render(
        rows,
        args.format,
        default=IMAGES_TABLE_DIGESTS if args.digests else IMAGES_TABLE,
        headers=IMAGE_HEADERS,
        out=cli.out,
        quiet=args.quiet,
        quiet_field="ID",
    )
    return exitcodes.OK


def _add_images(sub: Subparsers, name: str, aliases: list[str]) -> None:
    p = sub.add_parser(
        name,
        aliases=aliases,
        help="List images",
        description="List images. Filters: dangling=true|false, label=KEY[=VALUE], reference=PATTERN, "
        "before=IMAGE, since=IMAGE.",
    )
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]", help="only images matching this")
    p.add_argument(
        "-a", "--all", action="store_true", help="show all images (default hides intermediate ones)"
    )
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("-f", "--filter", action="append", metavar="FILTER", help="filter output (key=value)")
    p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template per image")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.set_defaults(handler=cmd_images)


# --- inspect -----------------------------------------------------------------------


def cmd_inspect(cli: Cli, args: argparse.Namespace) -> int:
    from cove.api.shapes import image_inspect

    template = inspect_template(args.format)
    engine = cli.engine()
    found, failed = inspect_each(
        args.images, lambda name: image_inspect(engine.images.inspect(name)), cli.err
    )
    print_inspected(found, template, cli.out)
    return exitcodes.FAILED if failed else exitcodes.OK


def _add_inspect(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name, help="Show details of images (JSON)", description="Show details of one or more images"
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--format", help="'json' or a Go template")
    p.set_defaults(handler=cmd_inspect)


# --- rmi / image rm ----------------------------------------------------------------


def cmd_rmi(cli: Cli, args: argparse.Namespace) -> int:
    results = cli.engine().images.remove(args.images, force=args.force, prune=not args.no_prune)
    status = exitcodes.OK
    for result in results:
        for name in result.untagged:
            cli.print(f"Untagged: {name}")
        for image_id in result.deleted:
            cli.print(f"Deleted: {image_id}")
        if result.error is not None:
            from cove.errors import CoveError

            assert isinstance(result.error, CoveError)
            cli.err.write(exitcodes.describe(result.error) + "\n")
            status = exitcodes.FAILED
    return status


def _add_rmi(sub: Subparsers, name: str, aliases: list[str]) -> None:
    p = sub.add_parser(
        name,
        aliases=aliases,
        help="Remove images",
        description="Remove one or more images. An image that a container (running or stopped) uses is "
        "kept, and the container named; -f removes it anyway unless the container is running.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")
    p.set_defaults(handler=cmd_rmi)


# --- tag ---------------------------------------------------------------------------


def cmd_tag(cli: Cli, args: argparse.Namespace) -> int:
    cli.engine().images.tag(args.source, args.target)
    return exitcodes.OK


def _add_tag(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", description="Tag an image"
    )
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(handler=cmd_tag)


# --- history -----------------------------------------------------------------------


def cmd_history(cli: Cli, args: argparse.Namespace) -> int:
    rows = []
    for h in cli.engine().images.history(args.image):
        created_by = h.created_by
        if not args.no_trunc:
            created_by = ellipsis(created_by.replace("\t", " "), 45)
        rows.append(
            {
                "Comment": h.comment,
                "CreatedAt": h.created or "",
                "CreatedBy": created_by,
                "CreatedSince": since(h.created) if args.human else (h.created or ""),
                "ID": h.id if h.id == "<missing>" else short_id(h.id, args.no_trunc),
                "Size": human_size(h.size) if args.human else str(h.size),
            }
        )
    render(
        rows,
        args.format,
        default=HISTORY_TABLE,
        headers=HISTORY_HEADERS,
        out=cli.out,
        quiet=args.quiet,
        quiet_field="ID",
    )
    return exitcodes.OK


def _add_history(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="Show the history of an image", description="Show the history of an image")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template per row")
    p.add_argument("-H", "--human", action=GoBool, default=True, help="sizes and dates for humans")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.set_defaults(handler=cmd_history)


# --- image prune -------------------------------------------------------------------


def cmd_prune(cli: Cli, args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter)
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if args.all
        else "WARNING! This will remove all dangling images."
    )
    if not args.force and not cli.confirm(warning):
        return exitcodes.OK
    render_prune(cli.engine().images.prune(all=args.all, filters=filters), cli.out)
    return exitcodes.OK


def _add_prune(sub: Subparsers) -> None:
    p = sub.add_parser(
        "prune",
        help="Remove unused images",
        description="Remove dangling images (with -a: all images no container uses), and the layers and "
        "blobs only they held. Filters: until=DURATION|TIME, label=KEY[=VALUE].",
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="remove all unused images, not just dangling ones"
    )
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument(
        "--filter", action="append", metavar="FILTER", help="provide filter values (e.g. until=24h)"
    )
    p.set_defaults(handler=cmd_prune)


# --- import ------------------------------------------------------------------------


def cmd_import(cli: Cli, args: argparse.Namespace) -> int:
    progress = cli.progress(quiet=args.quiet)
    try:
        image_id = cli.engine().images.import_(
            args.file,
            args.reference,
            changes=args.change,
            message=args.message,
            platform=args.platform,
            progress=progress,
        )
    finally:
        progress.close()
    cli.print(image_id)
    return exitcodes.OK


def _add_import(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Import the contents from a tarball to create a filesystem image",
        description="Make a one-layer image from a root filesystem tarball (plain, gzip, zstd, bzip2 or xz), "
        "read from a file, a URL or - (stdin).",
    )
    p.add_argument("file", metavar="file|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument(
        "-c",
        "--change",
        action="append",
        metavar="INSTRUCTION",
        help="apply a Dockerfile instruction (CMD, ENV...)",
    )
    p.add_argument("-m", "--message", help="set the commit message for the imported image")
    p.add_argument("--platform", help="set the platform (os/arch) of the image")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=cmd_import)


# --- save / load -------------------------------------------------------------------


def cmd_save(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    progress = cli.progress(quiet=True)
    if args.output:
        engine.images.save(args.images, fmt=args.format, output=Path(args.output), progress=progress)
        return exitcodes.OK
    if args.format == "oci-dir":
        raise UsageError("--format oci-dir needs an output directory (-o DIR)", "cove save")
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect", "cove save")
    cli.out.flush()
    engine.images.save(args.images, fmt=args.format, stream=sys.stdout.buffer, progress=progress)
    sys.stdout.buffer.flush()
    return exitcodes.OK


def _add_save(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Save one or more images to a tar archive (streamed to STDOUT by default)",
        description="Save images to an archive. docker-archive (the default) is what `docker load` reads, "
        "and is an OCI image layout too; oci-archive and oci-dir keep blobs exactly as stored.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file (a directory for oci-dir) instead of STDOUT")
    p.add_argument(
        "--format",
        default="docker-archive",
        choices=("docker-archive", "oci-archive", "oci-dir"),
        help="archive format (default docker-archive)",
    )
    p.set_defaults(handler=cmd_save)


def cmd_load(cli: Cli, args: argparse.Namespace) -> int:
    progress = cli.progress(quiet=args.quiet)
    try:
        results = cli.engine().images.load(Path(args.input) if args.input else None, progress=progress)
    finally:
        progress.close()
    for result in results:
        for old_name, _old_id in result.moved_from:
            cli.print(
                f"The image {old_name} already exists, renaming the old one with ID {_old_id} to empty string"
            )
        if result.tags:
            for tag in result.tags:
                cli.print(f"Loaded image: {tag}")
        else:
            cli.print(f"Loaded image ID: {result.image_id}")
    return exitcodes.OK


def _add_load(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Load an image from a tar archive or STDIN",
        description="Load images from a docker-archive, an oci-archive (either maybe compressed) or an "
        "oci-dir (a directory).",
    )
    p.add_argument("-i", "--input", help="read from a tar archive file or OCI layout directory, not STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p.set_defaults(handler=cmd_load)


# --- image bootstrap ---------------------------------------------------------------


def cmd_bootstrap(cli: Cli, args: argparse.Namespace) -> int:
    progress = cli.progress(quiet=args.quiet, plain_lines=True)
    try:
        image_id = cli.engine().images.bootstrap(
            args.name,
            tag=args.tag,
            cache_dir=Path(args.cache_dir) if args.cache_dir else None,
            mirror=args.mirror,
            busybox_binary=Path(args.busybox) if args.busybox else None,
            progress=progress,
        )
    finally:
        progress.close()
    cli.print(image_id)
    return exitcodes.OK


def _add_bootstrap(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bootstrap",
        help="Make a built-in image (busybox, debian) on this host, no registry needed",
        description="Make an image from what is on this host:\n"
        "  busybox          from the host's static busybox (Debian: busybox-static); seconds\n"
        "  debian[:SUITE]   a Debian minbase made by mmdebstrap (default suite bookworm); a minute",
    )
    p.add_argument("name", metavar="NAME", help="busybox or debian[:SUITE]")
    p.add_argument("-t", "--tag", help="name the image TAG instead of NAME")
    p.add_argument("--cache-dir", help="debian: keep (and reuse) the mmdebstrap tarball in this directory")
    p.add_argument("--mirror", help="debian: the Debian mirror to use (default: the host's apt sources)")
    p.add_argument("--busybox", help="busybox: the static binary to use (default /bin/busybox)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=cmd_bootstrap)


# --- registration ------------------------------------------------------------------


def register(top: Subparsers, image: Subparsers) -> None:
    """Add the Docker-style top-level commands and the ``image`` management commands."""
    _add_images(top, "images", [])
    _add_rmi(top, "rmi", [])
    _add_tag(top, "tag")
    _add_history(top, "history")
    _add_import(top, "import")
    _add_save(top, "save")
    _add_load(top, "load")
    _add_images(image, "ls", ["list"])
    _add_inspect(image, "inspect")
    _add_rmi(image, "rm", ["remove"])
    _add_tag(image, "tag")
    _add_history(image, "history")
    _add_prune(image)
    _add_import(image, "import")
    _add_save(image, "save")
    _add_load(image, "load")
    _add_bootstrap(image)

"""Registry commands: pull, push, login, logout (and image pull/push)."""

from __future__ import annotations

import argparse
import getpass
from typing import TextIO

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.parser import Subparsers, UsageError
from cove.cli.progress import ProgressPrinter
from cove.config import docker_config_dir
from cove.errors import InvalidReference
from cove.oci.reference import parse_reference

# --- pull ----------------------------------------------------------------------------


def pull_image(
    cli: Cli,
    name: str,
    *,
    out: TextIO,
    quiet: bool = False,
    platform: str | None = None,
    all_tags: bool = False,
    show_name: bool = True,
) -> None:
    """Pull with Docker's output on ``out``: progress lines, the digest, the status, and (for
    ``pull``, not for ``run``) the full name."""
    try:
        ref = parse_reference(name, default_tag=False)
    except InvalidReference:
        ref = None
    if ref is not None and not quiet:
        if all_tags:
            out.write(f"Pulling all tags of {ref.familiar_name()}\n")
        elif ref.tag is None and ref.digest is None:
            out.write("Using default tag: latest\n")
        if not all_tags:
            tag = ref.tagged_or_latest()
            out.write(f"{tag.digest or tag.tag}: Pulling from {ref.path}\n")
        out.flush()
    progress = ProgressPrinter(out, quiet=quiet, plain_lines=True)
    try:
        results = cli.engine().registries.pull(
            name,
            docker_config=docker_config_dir(cli.env),
            platform=platform,
            all_tags=all_tags,
            progress=progress,
        )
    finally:
        progress.close()
    for result in results:
        shown = result.reference.familiar()
        if not quiet:
            out.write(f"Digest: {result.digest}\n")
            status = "Downloaded newer image" if result.updated else "Image is up to date"
            out.write(f"Status: {status} for {shown}\n")
        if show_name:
            out.write(f"{result.reference}\n")
    out.flush()


def cmd_pull(cli: Cli, args: argparse.Namespace) -> int:
    pull_image(cli, args.name, out=cli.out, quiet=args.quiet, platform=args.platform, all_tags=args.all_tags)
    return exitcodes.OK


def _add_pull(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Download an image from a registry",
        description="Download an image from a registry: NAME[:TAG|@DIGEST]. Layers download side by side and "
        "unpack while they stream in; an interrupted pull resumes where it stopped.",
    )
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument(
        "-a", "--all-tags", action="store_true", help="download all tagged images in the repository"
    )
    p.add_argument("--platform", help="pull this platform (os/arch[/variant]) of a multi-platform image")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.set_defaults(handler=cmd_pull)


# --- push ----------------------------------------------------------------------------


def cmd_push(cli: Cli, args: argparse.Namespace) -> int:
    ref = parse_reference(args.name, default_tag=False)
    out = cli.out
    if not args.quiet:
        if ref.tag is None and ref.digest is None and not args.all_tags:
            out.write("Using default tag: latest\n")
        out.write(f"The push refers to repository [{ref.name}]\n")
        out.flush()
    progress = ProgressPrinter(out, quiet=args.quiet, plain_lines=True)
    try:
        results = cli.engine().registries.push(
            args.name, docker_config=docker_config_dir(cli.env), all_tags=args.all_tags, progress=progress
        )
    finally:
        progress.close()
    for result in results:
        if args.quiet:
            out.write(f"{result.reference.familiar()}\n")
        else:
            out.write(f"{result.reference.tag}: digest: {result.digest} size: {result.size}\n")
    out.flush()
    return exitcodes.OK


def _add_push(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Upload an image to a registry",
        description="Upload an image to a registry: the blobs it does not have yet, then the manifest.",
    )
    p.add_argument("name", metavar="NAME[:TAG]")
    p.add_argument("-a", "--all-tags", action="store_true", help="push all tags of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.set_defaults(handler=cmd_push)


# --- login / logout --------------------------------------------------------------------


def _read_password_stdin(cli: Cli) -> str:
    text = cli.stdin.read()
    return text.rstrip("\r\n")


def cmd_login(cli: Cli, args: argparse.Namespace) -> int:
    registries = cli.engine().registries
    username, password = args.username, args.password
    if password is not None and args.password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive", "cove login")
    if args.password_stdin:
        if not username:
            raise UsageError("Must provide --username with --password-stdin", "cove login")
        password = _read_password_stdin(cli)
    elif password is not None:
        cli.err.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if username is None and password is None:
        saved = registries.saved_login(args.server, docker_config_dir(cli.env))
        if saved is not None and not saved.identity_token:
            cli.print("Authenticating with existing credentials...")
            username, password = saved.username, saved.secret
    interactive = cli.stdin.isatty()
    if not username:
        if not interactive:
            raise UsageError(
                "Cannot perform an interactive login from a non TTY device",
                "cove login",
            )
        cli.out.write("Username: ")
        cli.out.flush()
        username = cli.stdin.readline().strip()
    if not password:
        if not interactive:
            raise UsageError(
                "Cannot perform an interactive login from a non TTY device",
                "cove login",
            )
        password = getpass.getpass("Password: ")
    result = registries.login(args.server, username, password, docker_config=docker_config_dir(cli.env))
    if result.stored_in.endswith("config.json"):
        cli.err.write(
            f"WARNING! Your password will be stored unencrypted in {result.stored_in}.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/engine/reference/commandline/login/#credential-stores\n\n"
        )
    cli.print("Login Succeeded")
    return exitcodes.OK


def _add_login(sub: Subparsers) -> None:
    p = sub.add_parser(
        "login",
        help="Log in to a registry",
        description="Log in to a registry (default Docker Hub). The login is checked with the registry, then "
        "kept in $DOCKER_CONFIG/config.json (~/.docker), or by the credential helper it names, so Docker "
        "and cove share logins.",
    )
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.add_argument("-u", "--username", help="username")
    p.add_argument("-p", "--password", help="password (insecure: use --password-stdin)")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.set_defaults(handler=cmd_login)


def cmd_logout(cli: Cli, args: argparse.Namespace) -> int:
    server, found = cli.engine().registries.logout(args.server, docker_config=docker_config_dir(cli.env))
    if found:
        cli.print(f"Removing login credentials for {server}")
    else:
        cli.print(f"Not logged in to {server}")
    return exitcodes.OK


def _add_logout(sub: Subparsers) -> None:
    p = sub.add_parser(
        "logout",
        help="Log out from a registry",
        description="Forget the login for a registry (default Docker Hub).",
    )
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.set_defaults(handler=cmd_logout)


def register(top: Subparsers, image: Subparsers) -> None:
    _add_pull(top, "pull")
    _add_push(top, "push")
    _add_login(top)
    _add_logout(top)
    _add_pull(image, "pull")
    _add_push(image, "push")

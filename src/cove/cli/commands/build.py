"""``cove build`` (and ``image build``) and ``cove builder prune``."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.buildprogress import BuildProgress
from cove.cli.parser import Subparsers, UsageError, parse_filters
from cove.cli.prune import render_prune
from cove.config import docker_config_dir
from cove.errors import CoveError, InvalidArgument, NotFound


def _pairs(values: list[str] | None, what: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """KEY=VALUE options; a bare KEY takes its value from the environment (--build-arg)."""
    out: dict[str, str] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what} {item!r}: use KEY=VALUE", "cove build")
        if not eq:
            if env is None:
                raise UsageError(f"invalid {what} {item!r}: use KEY=VALUE", "cove build")
            if key not in env:
                continue  # Docker skips a bare build arg that the environment lacks
            value = env[key]
        out[key] = value
    return out


def _options(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        out[key.strip()] = value.strip() if eq else ""
    return out


def _secrets(values: list[str] | None, env: dict[str, str], holder: Path) -> dict[str, Path]:
    """--secret id=ID[,src=FILE|,env=VAR]: a file, or an environment variable written to one."""
    out: dict[str, Path] = {}
    for item in values or []:
        opts = _options(item)
        secret_id = opts.get("id", "")
        if not secret_id:
            raise UsageError(f"invalid --secret {item!r}: it needs id=", "cove build")
        source = opts.get("src") or opts.get("source")
        variable = opts.get("env")
        if source is None and variable is None:
            if opts.get("type") == "env" or (secret_id in env and not Path(secret_id).exists()):
                variable = secret_id
            else:
                source = secret_id
        if variable is not None:
            if variable not in env:
                raise InvalidArgument(f"secret {secret_id}: the environment has no {variable}")
            path = holder / f"secret-{len(out)}"
            path.write_text(env[variable])
            os.chmod(path, 0o400)
            out[secret_id] = path
        else:
            assert source is not None
            path = Path(source).expanduser()
            if not path.is_file():
                raise NotFound(f"secret {secret_id}: no file {source}")
            out[secret_id] = path.resolve()
    return out


def _output(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    if "=" not in text:  # a bare path is a local export, "-" a tar on stdout (Docker's shorthand)
        return {"type": "tar", "dest": "-"} if text == "-" else {"type": "local", "dest": text}
    return _options(text)


@contextlib.contextmanager
def _context(cli: Cli, args: argparse.Namespace) -> Iterator[tuple[Path, str, Path | None]]:
    """(context directory, Dockerfile text, the Dockerfile's path) from the arguments."""
    from cove.engine.build_context import resolve_context

    dockerfile_text: str | None = None
    if args.file == "-":
        if args.context == "-":
            raise UsageError("the context and the Dockerfile cannot both come from stdin", "cove build")
        dockerfile_text = _stdin(cli).read().decode(errors="replace")
    source: str | BinaryIO = _stdin(cli) if args.context == "-" else args.context
    dockerfile = None if args.file == "-" else args.file
    with resolve_context(
        cli.engine().build, source, dockerfile=dockerfile, dockerfile_text=dockerfile_text
    ) as context:
        yield context.root, context.dockerfile, context.dockerfile_path


def _stdin(cli: Cli) -> BinaryIO:
    buffer = getattr(cli.stdin, "buffer", None)
    return buffer if buffer is not None else io.BytesIO(cli.stdin.read().encode())


def cmd_build(cli: Cli, args: argparse.Namespace) -> int:
    from cove.engine.build import BuildRequest, DockerfileError, excerpt_of, find_ignore_file

    mode = "quiet" if args.quiet else args.progress
    if mode == "auto":
        mode = "tty" if cli.err.isatty() else "plain"
    if mode not in ("plain", "tty", "quiet"):
        raise UsageError(f"invalid --progress {args.progress!r}: use auto, plain, tty or quiet", "cove build")
    progress = BuildProgress(cli.err, mode)
    env = dict(cli.env)
    started = time.monotonic()
    dockerfile_text = ""
    dockerfile_name = "Dockerfile"
    try:
        with (
            tempfile.TemporaryDirectory(prefix="cove-secrets-") as holder,
            _context(cli, args) as (
                root,
                dockerfile_text,
                dockerfile_path,
            ),
        ):
            if dockerfile_path is not None:
                dockerfile_name = dockerfile_path.name
            request = BuildRequest(
                dockerfile=dockerfile_text,
                context=root,
                ignore_file=find_ignore_file(dockerfile_path),
                tags=list(args.tag or []),
                build_args=_pairs(args.build_arg, "--build-arg", env),
                target=args.target,
                no_cache=args.no_cache,
                pull=args.pull,
                labels=_pairs(args.label, "--label"),
                platform=args.platform,
                network=args.network,
                secrets=_secrets(args.secret, env, Path(holder)),
                output=_output(args.output),
                output_stream=getattr(cli.out, "buffer", None),
                docker_config=docker_config_dir(cli.env),
            )
            if mode == "plain":
                runtime = cli.engine().build.runtime().info.name
                cli.err.write(f"#0 building with cove, RUN steps on {runtime}\n\n")
            result = cli.engine().build.build(request, progress)
    except DockerfileError as exc:
        progress.close()
        cli.err.write(progress.failure_report())
        cli.err.write(excerpt_of(dockerfile_text, exc.line, exc.end_line, name=dockerfile_name))
        cli.err.write(f"ERROR: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return exitcodes.FAILED
    except CoveError as exc:
        progress.close()
        cli.err.write(f"ERROR: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return exitcodes.FAILED
    progress.close()
    for warning in result.warnings:
        cli.err.write(f"WARNING: {warning}\n")
    if args.iidfile and result.image_id:
        Path(args.iidfile).write_text(result.image_id)
    if args.quiet:
        if result.image_id:
            cli.print(result.image_id)
    elif mode == "tty":
        cached = f", {result.cached_steps} of {result.steps} steps cached" if result.steps else ""
        cli.err.write(
            f"Built {result.image_id[7:19] or 'output'} in {time.monotonic() - started:.1f}s{cached}\n"
        )
        for tag in result.tags:
            cli.err.write(f"Tagged {tag}\n")
    cli.err.flush()
    return exitcodes.OK


def _add_build(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(
        name,
        help="Build an image from a Dockerfile",
        description="Build an image from a Dockerfile and a context: a directory, - (a tar, or just\n"
        "a Dockerfile, on stdin) or the URL of a tar.\n\n"
        "Each step is cached under its parent, its instruction and what it reads (the content of\n"
        "the files a COPY takes, the build args a RUN sees); --progress plain says why a step was\n"
        "not cached. RUN steps see the host's network unless --network none.",
    )
    p.add_argument("context", metavar="PATH|URL|-")
    p.add_argument("-t", "--tag", action="append", metavar="NAME[:TAG]", help="name the image (repeatable)")
    p.add_argument(
        "-f", "--file", metavar="Dockerfile", help="the Dockerfile (default: PATH/Dockerfile; - for stdin)"
    )
    p.add_argument("--build-arg", action="append", metavar="KEY=VALUE", help="set a build-time variable")
    p.add_argument("--target", metavar="STAGE", help="build this stage (and what it needs) only")
    p.add_argument("--no-cache", action="store_true", help="do not use the step cache")
    p.add_argument("--pull", action="store_true", help="always pull base images, even when present")
    p.add_argument("--label", action="append", metavar="KEY=VALUE", help="set a label on the image")
    p.add_argument("--platform", metavar="OS/ARCH", help="the platform to build for")
    p.add_argument(
        "--secret",
        action="append",
        metavar="id=ID,src=FILE",
        help="a secret RUN --mount=type=secret can read",
    )
    p.add_argument(
        "--network", default="default", choices=("default", "none", "host"), help="RUN steps' network"
    )
    p.add_argument("--iidfile", metavar="FILE", help="write the image ID to FILE")
    p.add_argument(
        "-o",
        "--output",
        metavar="type=local|tar,dest=PATH",
        help="export the result's files instead of an image",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--progress", default="auto", help="auto, plain, tty or quiet")
    # Docker's legacy builder flags: cove never leaves intermediate containers behind.
    p.add_argument("--rm", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--force-rm", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_build)


def cmd_builder_prune(cli: Cli, args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter)
    if not args.force and not cli.confirm(
        "WARNING! This will remove all build cache."
        if args.all
        else "WARNING! This will remove all dangling build cache."
    ):
        return exitcodes.OK
    render_prune(cli.engine().build.prune(all=args.all, filters=filters), cli.out)
    return exitcodes.OK


def _add_prune(sub: Subparsers) -> None:
    p = sub.add_parser(
        "prune",
        help="Remove build cache",
        description="Remove the step cache of builds: by default the steps whose layers no image uses; "
        "with -a all of it (and the RUN --mount=type=cache directories).",
    )
    p.add_argument("-a", "--all", action="store_true", help="remove all build cache, not just dangling")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("--filter", action="append", metavar="until=TIME", help="only cache unused since TIME")
    p.set_defaults(handler=cmd_builder_prune)


def register(top: Subparsers, image: Subparsers, builder: Subparsers) -> None:
    _add_build(top, "build")
    _add_build(image, "build")
    _add_prune(builder)

"""Container commands: run, create, start, stop, kill, restart, rm, ps, wait, pause, rename, prune..."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import time
from typing import IO, TYPE_CHECKING, Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.attach import StreamCut, parse_detach_keys, stream
from cove.cli.container_options import add_create_flags, config_from_args
from cove.cli.humanize import human_duration, human_size, local_time
from cove.cli.output import inspect_template, print_inspected, render
from cove.cli.parser import GoBool, Subparsers, UsageError, parse_filters
from cove.cli.prune import render_prune
from cove.errors import CoveError, ExitStatusUnknown
from cove.oci.reference import parse_reference

if TYPE_CHECKING:
    from cove.engine.container_types import ContainerRecord
    from cove.engine.containers import Container
    from cove.engine.requests import ContainerConfig

PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_TABLE_SIZE = PS_TABLE + "\t{{.Size}}"
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "State": "STATE",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}


def _parse_time(text: str) -> float:
    from cove.oci.timestamps import timestamp

    return timestamp(text)


def status_text(container: Container, now: float | None = None) -> str:
    """Docker's STATUS column: Up 3 minutes (healthy), Exited (0) 2 seconds ago, Created..."""
    from cove.engine.container_types import HealthStatus, Status

    now = time.time() if now is None else now
    s = container.status
    if s.status in (Status.RUNNING, Status.PAUSED):
        started = _parse_time(s.started_at)
        text = "Up " + human_duration(now - started)
        if s.status == Status.PAUSED:
            text += " (Paused)"
        elif s.health is not None:
            health = s.health.status
            text += f" (health: {health.value})" if health == HealthStatus.STARTING else f" ({health.value})"
        return text
    code = "unknown" if s.exit_code is None else s.exit_code
    if s.status == Status.RESTARTING:
        return f"Restarting ({code}) {human_duration(now - _parse_time(s.finished_at))} ago"
    if s.status == Status.EXITED:
        if not s.finished_at:
            return f"Exited ({code})"
        return f"Exited ({code}) {human_duration(now - _parse_time(s.finished_at))} ago"
    return str(s.status.value).capitalize()


def command_text(cli: Cli, container: Container, image_config: dict[str, Any] | None, truncate: bool) -> str:
    """The container's command as ps shows it (its own alone when its image's is unknown)."""
    try:
        args = cli.engine().containers.command_line(container.record, image_config or {})
    except CoveError:  # a container whose image gives it no command: an empty column, as Docker's
        args = []
    text = " ".join(shlex.quote(a) if " " in a else a for a in args)
    if truncate and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


# --- run / create / start -------------------------------------------------------------------


def _create(cli: Cli, args: argparse.Namespace) -> str:
    config = config_from_args(args, dict(cli.env))
    cidfile = _open_cidfile(args.cidfile) if args.cidfile else None
    if cidfile is None:
        return _create_pulling(cli, args, config).id
    with cidfile:
        try:
            record = _create_pulling(cli, args, config)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(args.cidfile)
            raise
        cidfile.write(record.id)
    return record.id


def _open_cidfile(path: str) -> IO[str]:
    """Docker's order: the ID file is made before the container, so that a path that cannot be
    written fails with no container made (and one that exists is refused, as another run's)."""
    try:
        return open(path, "x")
    except FileExistsError:
        raise UsageError(
            f"container ID file found, make sure the other container isn't running or delete {path}",
            "cove run",
        ) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        message = f"failed to create the container ID file: open {path}: {reason}"
        raise UsageError(message, "cove run") from None


def _create_pulling(cli: Cli, args: argparse.Namespace, config: ContainerConfig) -> ContainerRecord:
    """Create, pulling the image first as Docker's CLI does: always, or when it is missing."""
    from cove.cli.commands.registry import pull_image
    from cove.engine.clientside import create_pulling
    from cove.policies import PullPolicy

    def pull(image: str) -> None:
        pull_image(cli, image, out=cli.err, quiet=args.quiet, platform=args.platform, show_name=False)

    def missing(image: str) -> None:
        cli.err.write(f"Unable to find image '{_pull_name(image)}' locally\n")
        cli.err.flush()

    return create_pulling(
        cli.engine().containers,
        config,
        args.name,
        policy=PullPolicy.parse(args.pull),
        pull=pull,
        on_missing=missing,
    )


def _pull_name(image: str) -> str:
    try:
        return parse_reference(image).familiar()
    except CoveError:
        return image


def cmd_create(cli: Cli, args: argparse.Namespace) -> int:
    try:
        cli.print(_create(cli, args))
    except CoveError as exc:
        cli.err.write(exitcodes.describe(exc) + "\n")
        return exitcodes.ENGINE
    return exitcodes.OK


def _start_failure(cli: Cli, exc: CoveError) -> int:
    cli.err.write(exitcodes.describe(exc) + "\n")
    return int(getattr(exc, "exit_code", exitcodes.ENGINE))


def _attach_and_wait(
    cli: Cli, cid: str, *, stdin: bool, tty: bool, sig_proxy: bool, remove: bool, detach_keys: bytes
) -> int | None:
    """Stream the container until it ends (its exit code) or the user detaches (None)."""
    from cove.host import terminal

    engine = cli.engine()
    size = terminal.size(0) if tty else None
    attachment = engine.containers.attach(cid, stdin=stdin, tty_size=size, remove=remove)

    def proxy(sig: int) -> None:
        with contextlib.suppress(CoveError):
            engine.containers.kill(cid, str(sig))

    try:
        return stream(
            attachment,
            stdin=stdin,
            tty=tty,
            detach_keys=detach_keys,
            proxy_signal=proxy if sig_proxy else None,
        )
    except StreamCut:
        pass
    finally:
        attachment.close()
    return recorded_exit(cli, cid)


def recorded_exit(cli: Cli, cid: str) -> int:
    """After an attach stream that ended without the container's exit code (its monitor died):
    the code its record holds, once it has one; when that is unknown, an error (125), never a
    made-up code."""
    try:
        return cli.engine().containers.wait(cid, unsupervised=False)
    except CoveError as exc:
        cli.err.write(exitcodes.describe(exc) + "\n")
        return exitcodes.ENGINE


def cmd_run(cli: Cli, args: argparse.Namespace) -> int:
    if args.detach and args.rm and args.restart != "no":
        raise UsageError("conflicting options: cannot specify both --restart and --rm", "cove run")
    try:
        detach_keys = parse_detach_keys(args.detach_keys)
    except ValueError as exc:
        raise UsageError(str(exc), "cove run") from None
    try:
        cid = _create(cli, args)
    except CoveError as exc:
        cli.err.write(exitcodes.describe(exc) + "\n")
        return exitcodes.ENGINE
    engine = cli.engine()
    from cove.host import terminal

    try:
        engine.containers.start(
            cid, hold_output=not args.detach, tty_size=terminal.size(0) if args.tty else None
        )
    except CoveError as exc:  # with --rm, the engine has removed the container
        return _start_failure(cli, exc)
    if args.detach:
        cli.print(cid)
        return exitcodes.OK
    attached = _attach_and_wait(
        cli,
        cid,
        stdin=args.interactive,
        tty=args.tty,
        sig_proxy=args.sig_proxy,
        remove=args.rm,
        detach_keys=detach_keys,
    )
    if attached is None:  # detached with the escape keys
        if engine.containers.get(cid).status.running:
            return exitcodes.OK
        attached = recorded_exit(cli, cid)
    # (a container whose monitor died runs on: --rm is for one that ended; its anonymous
    # volumes go with it, as Docker's --rm does)
    if args.rm and not engine.containers.get(cid).status.running:
        with contextlib.suppress(CoveError):
            engine.containers.remove(cid, force=True, volumes=True)
    return attached


def cmd_start(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise UsageError("you cannot start and attach multiple containers at once", "cove start")
        ref = args.containers[0]
        try:
            container = engine.containers.get(ref)
            engine.containers.start(ref, hold_output=True)
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            return exitcodes.FAILED
        config = container.record.config
        code = _attach_and_wait(
            cli,
            container.record.id,
            stdin=args.interactive and config.open_stdin,
            tty=config.tty,
            sig_proxy=True,
            remove=False,
            detach_keys=parse_detach_keys(args.detach_keys),
        )
        return 0 if code is None else code
    status = exitcodes.OK
    for ref in args.containers:
        try:
            engine.containers.start(ref)
            cli.print(ref)
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.FAILED
    return status


# --- stop / kill / restart / rm / wait / pause --------------------------------------------------


def _each(cli: Cli, refs: list[str], action: Any) -> int:
    status = exitcodes.OK
    for ref in refs:
        try:
            action(ref)
            cli.print(ref)
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.FAILED
    return status


def cmd_stop(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(
        cli,
        args.containers,
        lambda ref: engine.containers.stop(ref, timeout=args.time, signal_name=args.signal),
    )


def cmd_kill(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(cli, args.containers, lambda ref: engine.containers.kill(ref, args.signal))


def cmd_restart(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(cli, args.containers, lambda ref: engine.containers.restart(ref, timeout=args.time))


def cmd_rm(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(
        cli,
        args.containers,
        lambda ref: engine.containers.remove(ref, force=args.force, volumes=args.volumes),
    )


def cmd_wait(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    status = exitcodes.OK
    for ref in args.containers:
        try:
            cli.print(str(engine.containers.wait(ref)))
        except ExitStatusUnknown as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.ENGINE
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = max(status, exitcodes.FAILED)
    return status


def cmd_pause(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(cli, args.containers, engine.containers.pause)


def cmd_unpause(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    return _each(cli, args.containers, engine.containers.unpause)


def cmd_rename(cli: Cli, args: argparse.Namespace) -> int:
    cli.engine().containers.rename(args.container, args.new_name)
    return exitcodes.OK


def cmd_prune(cli: Cli, args: argparse.Namespace) -> int:
    if not args.force and not cli.confirm("WARNING! This will remove all stopped containers."):
        return exitcodes.OK
    render_prune(cli.engine().containers.prune(), cli.out)
    return exitcodes.OK


# --- ps -------------------------------------------------------------------------------------


def cmd_ps(cli: Cli, args: argparse.Namespace) -> int:
    engine = cli.engine()
    last = 1 if args.latest else args.last
    containers = engine.containers.list_containers(
        all=args.all, filters=parse_filters(args.filter), last=last
    )
    now = time.time()
    rows = []
    image_configs: dict[str, dict[str, Any] | None] = {}
    for c in containers:
        record = c.record
        if record.image_id not in image_configs:
            image_configs[record.image_id] = engine.containers.image_config(record)
        size = ""
        if args.size:
            with contextlib.suppress(CoveError):  # (its image or layer went meanwhile)
                sizes = engine.containers.size(record)
                size = f"{human_size(sizes.rw)} (virtual {human_size(sizes.root_fs)})"
        rows.append(
            {
                "Command": command_text(cli, c, image_configs[record.image_id], not args.no_trunc),
                "CreatedAt": local_time(_iso(record.created)),
                "ID": record.id if args.no_trunc else record.id[:12],
                "Image": record.image_ref,
                "Labels": ",".join(f"{k}={v}" for k, v in record.config.labels.items()),
                "LocalVolumes": str(sum(1 for m in record.config.mounts if m.type == "volume")),
                "Mounts": ",".join(m.source or m.target for m in record.config.mounts),
                "Names": record.name,
                "Networks": str(record.config.network),
                "Ports": _ports_text(cli, c),
                "RunningFor": human_duration(now - record.created) + " ago",
                "Size": size,
                "State": c.status.status.value,
                "Status": status_text(c, now),
            }
        )
    render(
        rows,
        args.format,
        default=PS_TABLE_SIZE if args.size else PS_TABLE,
        headers=PS_HEADERS,
        out=cli.out,
        quiet=args.quiet,
        quiet_field="ID",
    )
    return exitcodes.OK


def _iso(ts: float) -> str:
    from cove.oci.timestamps import format_rfc3339

    return format_rfc3339(ts)


# --- inspect ------------------------------------------------------------------------------


def cmd_inspect(cli: Cli, args: argparse.Namespace) -> int:
    """``cove inspect``: containers first, then images (``--type`` narrows it), as Docker does."""
    from cove.api.shapes import container_inspect, image_inspect

    template = inspect_template(args.format)
    engine = cli.engine()
    found: list[dict[str, Any]] = []
    failed = False
    for ref in args.names:
        item: dict[str, Any] | None = None
        errors: list[CoveError] = []
        if args.type in (None, "container"):
            try:
                item = container_inspect(engine.containers.details(ref))
            except CoveError as exc:
                errors.append(exc)
        if item is None and args.type in (None, "image"):
            try:
                item = image_inspect(engine.images.inspect(ref))
            except CoveError as exc:
                errors.append(exc)
        if item is None:
            cli.err.write(
                f"Error: No such object: {ref}\n" if len(errors) > 1 else exitcodes.describe(errors[0]) + "\n"
            )
            failed = True
        else:
            found.append(item)
    print_inspected(found, template, cli.out)
    return exitcodes.FAILED if failed else exitcodes.OK


# --- registration -----------------------------------------------------------------------------


def _refs(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def register(top: Subparsers, container: Subparsers) -> None:
    for sub, prefix in ((top, ""), (container, "container ")):
        p = sub.add_parser(
            "run",
            add_help=False,
            help="Create and run a new container from an image",
            description="Create and run a new container from an image",
        )
        add_create_flags(p)
        p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the ID")
        p.add_argument("--rm", action="store_true", help="remove the container when it exits")
        p.add_argument(
            "--sig-proxy",
            action=GoBool,
            default=True,
            help="proxy received signals to the process (default true)",
        )
        p.add_argument(
            "--detach-keys", help="override the key sequence for detaching (default ctrl-p,ctrl-q)"
        )
        p.set_defaults(handler=cmd_run)

        p = sub.add_parser(
            "create",
            add_help=False,
            help="Create a new container",
            description="Create a new container (start it with `cove start`)",
        )
        add_create_flags(p)
        p.add_argument("--rm", action="store_true", help="remove the container when it exits")
        p.set_defaults(handler=cmd_create, detach=True)

        p = sub.add_parser(
            "start", help="Start one or more stopped containers", description="Start containers"
        )
        p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
        p.add_argument("-i", "--interactive", action="store_true", help="attach the container's STDIN")
        p.add_argument("--detach-keys", help="override the key sequence for detaching")
        _refs(p)
        p.set_defaults(handler=cmd_start)

        p = sub.add_parser("stop", help="Stop one or more running containers", description="Stop containers")
        p.add_argument("-t", "--time", "--timeout", type=int, help="seconds to wait before killing it")
        p.add_argument("-s", "--signal", help="signal to send (default: the container's stop signal)")
        _refs(p)
        p.set_defaults(handler=cmd_stop)

        p = sub.add_parser("kill", help="Kill one or more running containers", description="Kill containers")
        p.add_argument("-s", "--signal", default="KILL", help="signal to send (default KILL)")
        _refs(p)
        p.set_defaults(handler=cmd_kill)

        p = sub.add_parser("restart", help="Restart one or more containers", description="Restart containers")
        p.add_argument("-t", "--time", "--timeout", type=int, help="seconds to wait before killing it")
        _refs(p)
        p.set_defaults(handler=cmd_restart)

        p = sub.add_parser(
            "rm",
            aliases=["remove"] if prefix else [],
            help="Remove one or more containers",
            description="Remove containers",
        )
        p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container")
        p.add_argument(
            "-v", "--volumes", action="store_true", help="remove anonymous volumes of the container"
        )
        _refs(p)
        p.set_defaults(handler=cmd_rm)

        p = sub.add_parser(
            "wait",
            help="Block until containers stop, then print their exit codes",
            description="Wait for containers to stop",
        )
        _refs(p)
        p.set_defaults(handler=cmd_wait)

        p = sub.add_parser(
            "pause", help="Pause all processes within containers", description="Pause containers"
        )
        _refs(p)
        p.set_defaults(handler=cmd_pause)
        p = sub.add_parser("unpause", help="Unpause all processes within containers", description="Unpause")
        _refs(p)
        p.set_defaults(handler=cmd_unpause)

        p = sub.add_parser("rename", help="Rename a container", description="Rename a container")
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("new_name", metavar="NEW_NAME")
        p.set_defaults(handler=cmd_rename)

        ps = sub.add_parser(
            "ps" if not prefix else "ls",
            aliases=["list", "ps"] if prefix else [],
            help="List containers",
            description=PS_DESCRIPTION,
        )
        ps.add_argument(
            "-a", "--all", action="store_true", help="show all containers (default shows just running)"
        )
        ps.add_argument("-f", "--filter", action="append", metavar="FILTER", help="filter output (key=value)")
        ps.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template per container")
        ps.add_argument("-n", "--last", type=int, help="show n last created containers (includes all states)")
        ps.add_argument("-l", "--latest", action="store_true", help="show the latest created container")
        ps.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        ps.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
        ps.add_argument("-s", "--size", action="store_true", help="display total file sizes")
        ps.set_defaults(handler=cmd_ps)

    p = container.add_parser(
        "prune", help="Remove all stopped containers", description="Remove stopped containers"
    )
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(handler=cmd_prune)

    for sub in (top, container):
        p = sub.add_parser(
            "inspect",
            help="Return low-level information on containers or images",
            description="Show details (JSON) of containers or images",
        )
        p.add_argument("names", nargs="+", metavar="NAME|ID")
        p.add_argument("-f", "--format", help="'json' or a Go template")
        p.add_argument(
            "--type", choices=("container", "image"), default="container" if sub is container else None
        )
        p.add_argument("-s", "--size", action="store_true", help="display total file sizes (containers)")
        p.set_defaults(handler=cmd_inspect)


PS_DESCRIPTION = (
    "List containers. Filters: status=created|restarting|running|paused|exited, name=, label=KEY[=VALUE], "
    "ancestor=IMAGE, health=starting|healthy|unhealthy|none, exited=CODE, id=, before=, since=."
)


def _ports_text(cli: Cli, c: Container) -> str:
    if not c.status.running or not (c.record.config.publish or c.record.config.publish_all):
        return ""
    from cove.engine.requests import format_binding

    return ", ".join(format_binding(b) for b in cli.engine().networks.bindings(c.record.id))

"""Container I/O commands: logs, attach, exec, top, stats, diff, commit, cp, export, update."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.attach import StreamCut, parse_detach_keys, stream
from cove.cli.humanize import bytes_size, human_size
from cove.cli.output import render, tabwrite
from cove.cli.parser import GoBool, Subparsers, UsageError
from cove.errors import CoveError, InvalidArgument


def parse_time_arg(text: str | None) -> float | None:
    """--since/--until: a Unix time, an RFC 3339 date, or a duration before now (10m, 1h30m)."""
    if not text:
        return None
    from cove.oci.timestamps import parse_rfc3339
    from cove.units import parse_duration

    with contextlib.suppress(ValueError):
        return float(text)
    moment = parse_rfc3339(text)
    if moment is not None:
        return moment.timestamp()
    try:
        return time.time() - parse_duration(text)
    except InvalidArgument:
        raise InvalidArgument(
            f"invalid time {text!r}", hint="use a timestamp, a date, or a duration like 10m"
        ) from None


# --- logs -----------------------------------------------------------------------------------


def cmd_logs(cli: Cli, args: argparse.Namespace) -> int:
    tail = None if args.tail in (None, "all") else int(args.tail) if args.tail.isdigit() else None
    if args.tail not in (None, "all") and tail is None:
        raise UsageError(f"invalid --tail value {args.tail!r} (a number or 'all')", "cove logs")
    entries = cli.engine().container_io.logs(
        args.container,
        follow=args.follow,
        tail=tail,
        since=parse_time_arg(args.since),
        until=parse_time_arg(args.until),
    )
    for entry in entries:
        text = f"{entry.time} {entry.text}" if args.timestamps else entry.text
        target = cli.out if entry.stream == "stdout" else cli.err
        target.write(text)
        target.flush()
    return exitcodes.OK


# --- attach ---------------------------------------------------------------------------------


def cmd_attach(cli: Cli, args: argparse.Namespace) -> int:
    from cove.host import terminal

    engine = cli.engine()
    container = engine.containers.get(args.container)
    config = container.record.config
    stdin = not args.no_stdin and config.open_stdin
    attachment = engine.containers.attach(
        args.container, stdin=stdin, tty_size=terminal.size(0) if config.tty else None
    )

    def proxy(sig: int) -> None:
        with contextlib.suppress(CoveError):
            engine.containers.kill(container.record.id, str(sig))

    try:
        code = stream(
            attachment,
            stdin=stdin,
            tty=config.tty,
            detach_keys=parse_detach_keys(args.detach_keys),
            proxy_signal=proxy if args.sig_proxy else None,
        )
    except StreamCut:
        from cove.cli.commands.containers import recorded_exit

        code = recorded_exit(cli, container.record.id)
    finally:
        attachment.close()
    return 0 if code is None else code


# --- exec -----------------------------------------------------------------------------------


def cmd_exec(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.container_options import environment

    env = environment(args.env_file, args.env, cli.env)
    try:
        session = cli.engine().container_io.exec(
            args.container,
            args.command,
            tty=args.tty,
            env=env,
            user=args.user,
            workdir=args.workdir,
            privileged=args.privileged,
            detach=args.detach,
            stdin=0 if args.interactive or args.tty else None,
        )
        return exitcodes.OK if session is None else session.wait()
    except CoveError as exc:
        if not hasattr(exc, "exit_code"):
            raise
        cli.err.write(exitcodes.describe(exc) + "\n")
        return int(exc.exit_code)


# --- top, stats, diff ------------------------------------------------------------------------


def cmd_top(cli: Cli, args: argparse.Namespace) -> int:
    titles, rows = cli.engine().container_io.top(args.container, args.ps_args or None)
    cli.print(tabwrite(["\t".join(titles)] + ["\t".join(row) for row in rows]))
    return exitcodes.OK


STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
    "Container": "CONTAINER",
}


UNKNOWN = "--"  # Docker's for a reading it could not take


def _stats_rows(cli: Cli, refs: list[str]) -> list[dict[str, str]]:
    rows = []
    for s in cli.engine().container_io.stats(refs or None):
        memory_percent = None
        if s.memory_usage is not None and s.memory_limit:
            memory_percent = 100.0 * s.memory_usage / s.memory_limit
        rows.append(
            {
                "BlockIO": _pair(s.block_read, s.block_write, human_size),
                "CPUPerc": UNKNOWN if s.cpu_percent is None else f"{s.cpu_percent:.2f}%",
                "Container": s.id[:12],
                "ID": s.id[:12],
                "MemPerc": UNKNOWN if memory_percent is None else f"{memory_percent:.2f}%",
                "MemUsage": _pair(s.memory_usage, s.memory_limit, bytes_size, unknown="-- / --"),
                "Name": s.name,
                "NetIO": _pair(s.net_rx, s.net_tx, human_size),
                "PIDs": UNKNOWN if s.pids is None else str(s.pids),
            }
        )
    return rows


def _pair(first: int | None, second: int | None, size: Callable[[int], str], unknown: str = UNKNOWN) -> str:
    if first is None or second is None:
        return unknown
    return f"{size(first)} / {size(second)}"


def cmd_stats(cli: Cli, args: argparse.Namespace) -> int:
    while True:
        rows = _stats_rows(cli, args.containers)
        if not args.no_stream:
            cli.out.write("\x1b[2J\x1b[H")
        render(rows, args.format, default=STATS_TABLE, headers=STATS_HEADERS, out=cli.out)
        cli.out.flush()
        if args.no_stream:
            return exitcodes.OK
        time.sleep(0.5)


def cmd_diff(cli: Cli, args: argparse.Namespace) -> int:
    for change in cli.engine().container_io.diff(args.container):
        cli.print(f"{change.kind} {change.path}")
    return exitcodes.OK


# --- commit, cp, export ----------------------------------------------------------------------


def cmd_commit(cli: Cli, args: argparse.Namespace) -> int:
    image_id = cli.engine().container_io.commit(
        args.container,
        args.reference,
        changes=args.change,
        message=args.message or "",
        author=args.author or "",
        pause=args.pause,
    )
    cli.print(image_id)
    return exitcodes.OK


def _container_path(arg: str) -> tuple[str, str] | None:
    """``CONTAINER:PATH`` -> (container, path); None for a host path (absolute or ./relative)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None
    name, _, path = arg.partition(":")
    return name, path or "/"


def cmd_cp(cli: Cli, args: argparse.Namespace) -> int:
    io = cli.engine().container_io
    src, dest = _container_path(args.src), _container_path(args.dest)
    if (src is None) == (dest is None):
        raise UsageError(
            "copying between containers or between host paths is not supported; "
            "one side must be CONTAINER:PATH",
            "cove cp",
        )
    if src is not None:
        if args.dest == "-":
            sys.stdout.flush()
            io.copy_from(src[0], src[1], sys.stdout.buffer, follow=args.follow_link)
            sys.stdout.buffer.flush()
        else:
            io.copy_out(src[0], src[1], Path(args.dest), follow=args.follow_link)
        return exitcodes.OK
    assert dest is not None
    if args.src == "-":
        io.copy_to(dest[0], dest[1], sys.stdin.buffer)
    else:
        io.copy_in(dest[0], Path(args.src), dest[1])
    return exitcodes.OK


def cmd_export(cli: Cli, args: argparse.Namespace) -> int:
    io = cli.engine().container_io
    if args.output:
        from cove.host.atomic import atomic_output

        target = Path(args.output)
        with atomic_output(target) as tmp, open(tmp, "wb") as f:
            io.export(args.container, f)
        return exitcodes.OK
    if sys.stdout.isatty():
        raise UsageError(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect", "cove export"
        )
    io.export(args.container, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return exitcodes.OK


# --- update ---------------------------------------------------------------------------------


def cmd_update(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.container_options import parse_restart
    from cove.units import parse_bytes

    resources = {
        "memory": parse_bytes(args.memory, "memory") if args.memory else None,
        "memory_swap": (-1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap, "memory-swap"))
        if args.memory_swap
        else None,
        "cpus": args.cpus,
        "cpu_shares": args.cpu_shares,
        "pids_limit": args.pids_limit,
    }
    if args.restart:
        parse_restart(args.restart)
    engine = cli.engine()
    status = exitcodes.OK
    for ref in args.containers:
        try:
            engine.container_io.update(ref, resources=resources, restart=args.restart)
            cli.print(ref)
        except CoveError as exc:
            cli.err.write(exitcodes.describe(exc) + "\n")
            status = exitcodes.FAILED
    return status


# --- registration ---------------------------------------------------------------------------


def register(top: Subparsers, container: Subparsers) -> None:
    for sub in (top, container):
        p = sub.add_parser(
            "logs", help="Fetch the logs of a container", description="Fetch the logs of a container"
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("-f", "--follow", action="store_true", help="follow log output")
        p.add_argument(
            "-n", "--tail", default="all", help='number of lines to show from the end (default "all")'
        )
        p.add_argument(
            "--since", help="show logs since a time (2024-01-02T15:04:05Z) or a duration ago (42m)"
        )
        p.add_argument("--until", help="show logs before a time or a duration ago")
        p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
        p.add_argument("--details", action="store_true", help="(accepted; json-file has no extra details)")
        p.set_defaults(handler=cmd_logs)

        p = sub.add_parser(
            "attach",
            help="Attach to a running container's input and output",
            description="Attach local standard input, output and error to a running container",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
        p.add_argument(
            "--sig-proxy",
            action=GoBool,
            default=True,
            help="proxy all received signals to the process",
        )
        p.add_argument(
            "--detach-keys", help="override the key sequence for detaching (default ctrl-p,ctrl-q)"
        )
        p.set_defaults(handler=cmd_attach)

        p = sub.add_parser(
            "exec",
            help="Execute a command in a running container",
            description="Execute a command in a running container",
        )
        p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
        p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
        p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
        p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
        p.add_argument(
            "--env-file", action="append", default=[], help="read environment variables from a file"
        )
        p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
        p.add_argument("-w", "--workdir", help="working directory inside the container")
        p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
        p.set_defaults(handler=cmd_exec)

        p = sub.add_parser(
            "top",
            help="Display the running processes of a container",
            description="Display the running processes of a container",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
        p.set_defaults(handler=cmd_top)

        p = sub.add_parser(
            "stats",
            help="Display a live stream of container resource usage statistics",
            description="Display resource usage statistics of containers",
        )
        p.add_argument("containers", nargs="*", metavar="CONTAINER")
        p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows running)")
        p.add_argument("--no-stream", action="store_true", help="pull one set of statistics and exit")
        p.add_argument("--format", help="'table', 'json', 'table TEMPLATE' or a Go template")
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.set_defaults(handler=cmd_stats)

        p = sub.add_parser(
            "diff",
            help="Inspect changes to files on a container's filesystem",
            description="List the files a container added (A), changed (C) or deleted (D)",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.set_defaults(handler=cmd_diff)

        p = sub.add_parser(
            "commit",
            help="Create a new image from a container's changes",
            description="Create a new image from a container's changes",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
        p.add_argument("-a", "--author", help="author")
        p.add_argument("-c", "--change", action="append", default=[], help="apply a Dockerfile instruction")
        p.add_argument("-m", "--message", help="commit message")
        p.add_argument(
            "-p",
            "--pause",
            action=GoBool,
            default=True,
            help="pause the container during commit (default true)",
        )
        p.set_defaults(handler=cmd_commit)

        p = sub.add_parser(
            "cp",
            help="Copy files/folders between a container and the local filesystem",
            description="Copy files between a container and the host: "
            "cp CONTAINER:SRC DEST|-   or   cp SRC|- CONTAINER:DEST",
        )
        p.add_argument("src", metavar="SRC")
        p.add_argument("dest", metavar="DEST")
        p.add_argument(
            "-a", "--archive", action="store_true", help="(always on: ownership and modes are kept)"
        )
        p.add_argument(
            "-L",
            "--follow-link",
            action="store_true",
            help="copy what a link in SRC_PATH points to, not the link",
        )
        p.set_defaults(handler=cmd_cp)

        p = sub.add_parser(
            "export",
            help="Export a container's filesystem as a tar archive",
            description="Export a container's filesystem as a tar archive",
        )
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")
        p.set_defaults(handler=cmd_export)

        p = sub.add_parser(
            "update",
            help="Update configuration of one or more containers",
            description="Update resource limits and the restart policy of containers",
        )
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.add_argument("-m", "--memory", help="memory limit")
        p.add_argument("--memory-swap", help="memory plus swap limit; -1 for unlimited swap")
        p.add_argument("--cpus", type=float, help="number of CPUs")
        p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
        p.add_argument("--pids-limit", type=int, help="pids limit (-1 for unlimited)")
        p.add_argument("--restart", help="restart policy")
        p.set_defaults(handler=cmd_update)

"""`cove compose` ps, logs, exec, run, top, images, port, ls, events, wait, cp, version: the
commands on a project's existing containers, found on the engine by their labels."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.cli import exitcodes
from cove.cli.app import Cli
from cove.cli.parser import GoBool, UsageError
from cove.errors import CoveError, NotFound

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.compose.model import Project
    from cove.compose.summary import ContainerSummary
    from cove.engine.containers.model import Container

SERVICE = "com.docker.compose.service"  # (cove.compose.names.SERVICE, without importing compose)


# --- shared -----------------------------------------------------------------------------------


def _target(cli: Cli, args: argparse.Namespace, services: Sequence[str] = ()) -> tuple[str, Project | None]:
    """The project's name, and the project when its files are there. With ``-p`` (or
    COMPOSE_PROJECT_NAME) and no compose file, the name alone: Docker Compose finds a
    project's containers by its label, files or not."""
    from cove.cli.commands.compose import load
    from cove.compose.options import NoConfigFile, check_project_name

    try:
        project = load(cli, args, services)
    except NoConfigFile:
        given = getattr(args, "compose_project_name", None) or cli.env.get("COMPOSE_PROJECT_NAME")
        if not given:
            raise
        return check_project_name(given), None
    return project.name, project


def _backend(cli: Cli) -> EngineBackend:
    from cove.cli.commands.compose import backend

    return backend(cli)


def _containers(backend: EngineBackend, project: str, *, all: bool = True) -> list[Container]:
    from cove.compose.names import project_filter

    return backend.list_containers(project_filter(project), all=all)


def _services_of(project: Project | None, services: Sequence[str]) -> list[str]:
    """The services a command is about: those named, else (with a compose file) the file's."""
    if services:
        return list(services)
    return list(project.services) if project is not None else []


def _table(rows: Sequence[Sequence[str]], *, min_width: int, padding: int) -> str:
    """Go's tabwriter with Docker Compose's settings for a command (flush-left cells)."""
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, min_width)
    lines = []
    for cells in rows:
        text = "".join(cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])) + (
            cells[-1] if cells else ""
        )
        lines.append(text)
    return "\n".join(lines)


def _uses_color(cli: Cli, no_color: bool) -> bool:
    if no_color:
        return False
    isatty = getattr(cli.out, "isatty", None)
    return bool(isatty and isatty())


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


# --- ps ---------------------------------------------------------------------------------------

PS_TABLE = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "Names": "NAMES",
    "Project": "PROJECT",
    "Service": "SERVICE",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Health": "HEALTH",
    "ExitCode": "EXIT CODE",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _go_time(ts: float) -> str:
    """Go's time.Time.String() in local time: ``2026-01-01 12:00:00 +0000 UTC``."""
    from datetime import datetime

    moment = datetime.fromtimestamp(int(ts)).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z %Z")


def ps_row(
    summary: ContainerSummary, status: str, *, truncate: bool = True, now: float | None = None
) -> dict[str, Any]:
    """One container as Docker Compose's ``ps`` formats it (its JSON keys, sorted as Go does)."""
    from cove.cli.humanize import human_duration
    from cove.compose.summary import displayable_ports

    now = time.time() if now is None else now
    command = _ellipsis(summary.command, 20) if truncate else summary.command
    mounts = [_ellipsis(m, 15) if truncate else m for m in summary.mounts]
    row: dict[str, Any] = {
        "Command": json.dumps(command, ensure_ascii=False),
        "CreatedAt": _go_time(summary.created),
        "Engine": summary.labels.get("com.docker.compose.engine", ""),
        "ExitCode": summary.exit_code,
        "Health": summary.health,
        "ID": summary.id[:12] if truncate else summary.id,
        "Image": summary.image,
        "Labels": ",".join(f"{k}={v}" for k, v in summary.labels.items()),
        "LocalVolumes": str(summary.local_volumes),
        "Mounts": ",".join(mounts),
        "Name": summary.name,
        "Names": summary.name,
        "Networks": ",".join(summary.networks),
        "Ports": displayable_ports(summary.publishers),
        "Project": summary.project,
        "Publishers": [
            {
                "URL": p.url,
                "TargetPort": p.target_port,
                "PublishedPort": p.published_port,
                "Protocol": p.protocol,
            }
            for p in summary.publishers
        ],
        "RunningFor": human_duration(now - summary.created) + " ago",
        "Service": summary.service,
        "Size": "0B",
        "State": summary.state,
        "Status": status,
    }
    return row


def _summaries(
    backend: EngineBackend, containers: Iterable[Container]
) -> list[tuple[Container, ContainerSummary]]:
    from cove.compose.summary import summarize

    out = []
    for c in containers:
        details = None
        with contextlib.suppress(CoveError):  # (it went meanwhile: what the list said)
            details = backend.container_details(c.record.id)
        out.append((c, summarize(c, details)))
    return out


def cmd_ps(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.commands.containers import status_text
    from cove.cli.output import render
    from cove.compose.summary import label, ps_selection

    statuses = list(args.status)
    if args.filter:
        key, eq, value = args.filter.partition("=")
        if not eq:
            raise UsageError("arguments to --filter should be in form KEY=VAL", "cove compose ps")
        if key != "status":
            raise UsageError(f"unknown filter {key}", "cove compose ps")
        statuses.append(value)
    name, project = _target(cli, args, args.services)
    services = list(args.services)
    if not services and project is not None and args.orphans.lower() == "false":
        services = list(project.services)  # (--orphans=false: only the services the files declare)
    backend = _backend(cli)
    chosen = ps_selection(_containers(backend, name), services=services, all=args.all, statuses=statuses)
    if args.quiet:
        for c in chosen:
            cli.print(c.record.id)
        return exitcodes.OK
    if args.list_services:
        seen: list[str] = []
        for c in chosen:
            service = label(c, SERVICE)
            if service not in seen:
                seen.append(service)
        cli.print("\n".join(seen))
        return exitcodes.OK
    now = time.time()
    rows = [
        ps_row(summary, status_text(c, now), truncate=not args.no_trunc, now=now)
        for c, summary in _summaries(backend, chosen)
    ]
    render(rows, args.format, default=PS_TABLE, headers=PS_HEADERS, out=cli.out)
    return exitcodes.OK


# --- logs -------------------------------------------------------------------------------------


def _tail(text: str | None) -> int | None:
    if text in (None, "all", "-1"):
        return None
    assert text is not None
    if not text.isdigit():
        raise UsageError(f"invalid --tail value {text!r} (a number or 'all')", "cove compose logs")
    return int(text)


def cmd_logs(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.commands.container_io import parse_time_arg
    from cove.cli.compose_logs import print_lines
    from cove.compose.logstream import LogStream, display_name, merged, project_containers
    from cove.compose.summary import service_container

    tail = _tail(args.tail)
    since, until = parse_time_arg(args.since), parse_time_arg(args.until)
    name, project = _target(cli, args, args.services)
    backend = _backend(cli)
    services = _services_of(project, args.services)
    if args.index:
        if len(args.services) != 1:
            raise UsageError("--index requires exactly one SERVICE", "cove compose logs")
        containers = [
            service_container(_containers(backend, name), args.services[0], args.index, running=False)
        ]
    else:
        containers = project_containers(backend, name, services)
    options = {
        "prefix": not args.no_log_prefix,
        "color": _uses_color(cli, args.no_color),
        "timestamps": args.timestamps,
        "names": [display_name(c) for c in containers],
    }
    if not args.follow:
        print_lines(cli.out, merged(backend, containers, tail=tail, since=since, until=until), **options)
        return exitcodes.OK

    def discover() -> list[Container]:
        return project_containers(backend, name, services)

    stream = LogStream(
        backend, containers, discover=None if args.index else discover, tail=tail, since=since, until=until
    )
    try:
        print_lines(cli.out, stream, **options)
    finally:
        stream.close()
    return exitcodes.OK


# --- exec -------------------------------------------------------------------------------------


def cmd_exec(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.container_options import environment
    from cove.compose.summary import service_container

    if not args.command:
        raise UsageError("exec needs a SERVICE and a COMMAND", "cove compose exec")
    name, _ = _target(cli, args)
    backend = _backend(cli)
    container = service_container(_containers(backend, name, all=False), args.service, args.index)
    env = environment([], args.env, cli.env)
    tty = not args.no_tty and _is_terminal(0) and _is_terminal(1)
    cli.out.flush()
    try:
        code = backend.exec_process(
            container.record.id,
            list(args.command),
            tty=tty,
            env=env,
            user=args.user,
            workdir=args.workdir,
            privileged=args.privileged,
            detach=args.detach,
            stdin=0 if args.interactive and not args.detach else None,
        )
    except CoveError as exc:
        if not hasattr(exc, "exit_code"):
            raise
        cli.err.write(exitcodes.describe(exc) + "\n")
        return int(exc.exit_code)
    return exitcodes.OK if code is None else code


# --- run --------------------------------------------------------------------------------------


def _progress(cli: Cli, quiet: bool = False) -> Any:
    """Progress on stderr as the lifecycle commands print it (close it when done)."""
    from cove.cli.compose_progress import ComposeProgress

    return ComposeProgress(io.StringIO() if quiet else cli.err)


def start_dependencies(
    cli: Cli, backend: EngineBackend, project: Project, service: str, args: argparse.Namespace
) -> None:
    """``run`` without ``--no-deps``: the service's dependencies up as ``up`` brings them (created,
    recreated when changed, started in order), then waited on for the conditions the service's
    ``depends_on`` sets (healthy, completed), as Docker Compose does before it runs."""
    from cove.compose import lifecycle
    from cove.compose.oneoff import dependency_services, wait_dependencies

    dependencies = dependency_services(project, project.services[service])
    if not dependencies:
        return
    progress = _progress(cli, args.quiet_pull)
    try:
        pull = None if args.pull in (None, "policy") else args.pull
        request = lifecycle.UpRequest(services=tuple(dependencies), pull=pull)
        result = lifecycle.up(backend, project, request, progress)
        wait_dependencies(backend, project.services[service], result.containers, progress)
    finally:
        progress.close()


def prepare_project(
    cli: Cli, backend: EngineBackend, project: Project, service: str, args: argparse.Namespace
) -> str:
    """What a one-off container needs of the project before it is created: its networks and
    volumes, and its image (pulled or built as ``up`` would); the image reference to run."""
    from cove.compose import resources
    from cove.compose.images import ensure_images

    progress = _progress(cli, args.quiet_pull)
    try:
        resources.ensure_networks(backend, project, [service], progress)
        resources.ensure_volumes(backend, project, [service], progress)
        pull = None if args.pull in (None, "policy") else args.pull
        build = True if args.build else None
        return ensure_images(backend, project, [service], pull=pull, build=build, report=progress)[service]
    finally:
        progress.close()


def _split_words(text: str) -> tuple[str, ...]:
    import shlex

    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"invalid --entrypoint {text!r}: {exc}", "cove compose run") from None


def cmd_run(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.attach import StreamCut, stream
    from cove.cli.container_options import environment, parse_volume
    from cove.compose.oneoff import RunOptions, new_slug, oneoff_container
    from cove.compose.secrets import inject, service_files
    from cove.engine.requests import parse_publish

    if args.service_ports and args.publish:
        raise UsageError("--service-ports and --publish are incompatible", "cove compose run")
    labels = {}
    for item in args.label:
        key, _, value = item.partition("=")
        labels[key] = value
    project = _target(cli, args, [args.service])[1]
    if project is None:
        from cove.compose.options import NoConfigFile

        raise NoConfigFile("no configuration file provided: not found")
    service = project.services[args.service]
    backend = _backend(cli)
    if not args.no_deps:
        start_dependencies(cli, backend, project, args.service, args)
    image = prepare_project(cli, backend, project, args.service, args)
    tty = not args.no_tty and _is_terminal(0) and _is_terminal(1)
    interactive = args.interactive and not args.detach
    options = RunOptions(
        command=tuple(args.command) if args.command else None,
        entrypoint=_split_words(args.entrypoint) if args.entrypoint is not None else None,
        env=tuple(environment([], args.env, cli.env)),
        volumes=tuple(parse_volume(v) for v in args.volume),
        publish=tuple(spec for p in args.publish for spec in parse_publish(p)),
        service_ports=args.service_ports,
        user=args.user,
        workdir=args.workdir,
        labels=labels,
        name=args.name,
        tty=tty,
        stdin=interactive,
        remove=args.rm,
        use_aliases=args.use_aliases,
    )

    def mounts_of(ref: str) -> list[Any]:
        return list(backend.get_container(ref).record.config.mounts)

    one = oneoff_container(project, service, options, new_slug(), image=image, mounts_of=mounts_of)
    for warning in one.warnings:
        cli.err.write(f"WARN[0000] service {service.name}: {warning}\n")
    created = backend.create_container(one.config, one.name, pull=one.pull)
    cid = created.record.id
    try:
        for more in one.more_networks:
            backend.connect_container(more.network, cid, aliases=list(more.aliases), ip=more.ipv4_address)
        inject(backend, cid, service_files(project, service))
    except CoveError:
        with contextlib.suppress(CoveError):
            backend.remove_container(cid, force=True)
        raise
    if args.detach:
        backend.start_container(cid)
        cli.print(cid)
        return exitcodes.OK
    from cove.host import terminal

    size = terminal.size(0) if tty else None
    cli.out.flush()
    try:
        backend.start_attachable(cid, tty_size=size)
    except CoveError as exc:
        cli.err.write(exitcodes.describe(exc) + "\n")
        if args.rm:
            with contextlib.suppress(CoveError):
                backend.remove_container(cid, force=True, volumes=True)
        return int(getattr(exc, "exit_code", exitcodes.FAILED))
    attachment = backend.attach(cid, stdin=interactive, tty_size=size, remove=args.rm)

    def proxy(sig: int) -> None:
        with contextlib.suppress(CoveError):
            backend.kill_container(cid, str(sig))

    code: int | None
    try:
        code = stream(attachment, stdin=interactive, tty=tty, proxy_signal=proxy)
    except StreamCut:
        code = None
    finally:
        attachment.close()
    if code is None:
        with contextlib.suppress(CoveError):
            if backend.get_container(cid).status.running:
                return exitcodes.OK  # detached with the escape keys: it runs on
        code = backend.wait_container(cid)
    if args.rm:
        with contextlib.suppress(CoveError):
            backend.remove_container(cid, force=True, volumes=True)
    return code


# --- top, images, port --------------------------------------------------------------------------


def cmd_top(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose.summary import label, number_of

    name, _ = _target(cli, args, args.services)
    backend = _backend(cli)
    containers = sorted(
        (
            c
            for c in _containers(backend, name, all=False)
            if not args.services or label(c, SERVICE) in args.services
        ),
        key=lambda c: c.record.name,
    )
    header: list[str] = ["SERVICE", "#"]
    entries: list[dict[str, str]] = []
    for c in containers:
        try:
            titles, processes = backend.top(c.record.id)
        except CoveError:
            continue  # (it stopped meanwhile)
        for title in titles:
            if title not in header:
                header.append(title)
        for process in processes:
            entry = {
                "SERVICE": label(c, SERVICE) or c.record.name,
                "#": str(number_of(c)),
            }
            entry.update(zip(titles, process, strict=False))
            entries.append(entry)
    if not entries:
        return exitcodes.OK
    if "CMD" in header:  # the command is the last column, as Docker Compose puts it
        header.remove("CMD")
        header.append("CMD")
    rows = [header] + [[e.get(h, "-") for h in header] for e in entries]
    cli.print(_table(rows, min_width=4, padding=2))
    return exitcodes.OK


def _image_parts(ref: str) -> tuple[str, str]:
    from cove.oci.reference import parse_reference

    try:
        parsed = parse_reference(ref)
    except CoveError:
        return "", ""
    return parsed.familiar_name(), parsed.tag or ""


def cmd_images(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.humanize import human_duration, human_size
    from cove.compose.summary import label
    from cove.oci.timestamps import timestamp

    name, _ = _target(cli, args, args.services)
    backend = _backend(cli)
    containers = [
        c for c in _containers(backend, name) if not args.services or label(c, SERVICE) in args.services
    ]
    rows: list[dict[str, Any]] = []
    for c in sorted(containers, key=lambda c: c.record.name):
        repository, tag = _image_parts(c.record.image_ref)
        image_id, size, created, platform = c.record.image_id, 0, None, ""
        with contextlib.suppress(CoveError):  # (removed since: what the container knows)
            details = backend.inspect_image(c.record.image_id)
            image_id, size = str(details.id), details.size
            created = timestamp(details.config.get("created")) or None
            os_name, arch = details.config.get("os", ""), details.config.get("architecture", "")
            variant = details.config.get("variant")
            platform = "/".join(p for p in (os_name, arch, variant) if p)
        rows.append({
            "ID": image_id,
            "ContainerName": c.record.name,
            "Repository": repository,
            "Tag": tag,
            "Platform": platform,
            "Size": size,
            "Created": created,
        })  # fmt: skip
    if args.quiet:
        ids: list[str] = []
        for row in rows:
            short = row["ID"].partition(":")[2] or row["ID"]
            if short not in ids:
                ids.append(short)
        for short in ids:
            cli.print(short)
        return exitcodes.OK
    if args.format == "json":
        from cove.oci.timestamps import format_rfc3339

        shaped = [
            {**{k: v for k, v in row.items() if k != "Created"},
             **({"Created": format_rfc3339(row["Created"])} if row["Created"] else {})}
            for row in rows
        ]  # fmt: skip
        cli.print(json.dumps(shaped, separators=(",", ":"), ensure_ascii=False))
        return exitcodes.OK
    now = time.time()
    table = [["CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE ID", "SIZE", "CREATED"]]
    for row in rows:
        short = row["ID"].partition(":")[2] or row["ID"]
        table.append([
            row["ContainerName"],
            row["Repository"] or "<none>",
            row["Tag"] or "<none>",
            row["Platform"],
            short[:12],
            human_size(row["Size"]),
            human_duration(now - row["Created"]) + " ago" if row["Created"] else "N/A",
        ])  # fmt: skip
    cli.print(_table(table, min_width=20, padding=3))
    return exitcodes.OK


def cmd_port(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose.summary import service_container

    if not args.private_port.isdigit() or not 0 < int(args.private_port) < 65536:
        raise UsageError(f"invalid port {args.private_port!r}", "cove compose port")
    port, protocol = int(args.private_port), args.protocol.lower()
    name, _ = _target(cli, args)
    backend = _backend(cli)
    container = service_container(_containers(backend, name, all=False), args.service, args.index)
    bindings = backend.published_ports(container.record.id)
    for b in bindings:
        if b.container_port == port and b.protocol == protocol:
            cli.print(f"{b.host_ip or '0.0.0.0'}:{b.host_port}")
            return exitcodes.OK
    ports = ", ".join(f"{b.container_port}/{b.protocol}" for b in bindings)
    raise NotFound(f"no port {port}/{protocol} for container {container.record.name}: {ports}")


# --- ls ---------------------------------------------------------------------------------------


def cmd_ls(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.parser import parse_filters
    from cove.compose import names
    from cove.compose.summary import name_matches, stacks

    filters = parse_filters(args.filter)
    for key in filters:
        if key != "name":
            raise UsageError(f"invalid filter '{key}'", "cove compose ls")
    backend = _backend(cli)
    found = backend.list_containers({"label": [names.PROJECT, names.CONFIG_HASH]}, all=args.all)
    listed = stacks(found)
    if "name" in filters:
        listed = [s for s in listed if name_matches(s.name, filters["name"])]
    if args.quiet:
        for s in listed:
            cli.print(s.name)
        return exitcodes.OK
    if args.format == "json":
        shaped = [{"Name": s.name, "Status": s.status, "ConfigFiles": s.config_files} for s in listed]
        cli.print(json.dumps(shaped, separators=(",", ":"), ensure_ascii=False))
        return exitcodes.OK
    rows = [["NAME", "STATUS", "CONFIG FILES"]] + [[s.name, s.status, s.config_files] for s in listed]
    cli.print(_table(rows, min_width=20, padding=3))
    return exitcodes.OK


# --- wait, cp ---------------------------------------------------------------------------------


def down_project(cli: Cli, backend: EngineBackend, name: str, project: Project | None) -> None:
    """``wait --down-project``: the project down as ``down --remove-orphans`` takes it."""
    from cove.compose import lifecycle

    progress = _progress(cli)
    try:
        lifecycle.down(backend, name, project, progress, remove_orphans=True)
    finally:
        progress.close()


def cmd_wait(cli: Cli, args: argparse.Namespace) -> int:
    import threading

    from cove.compose.summary import label

    name, project = _target(cli, args, args.services)
    backend = _backend(cli)
    containers = [c for c in _containers(backend, name, all=False) if label(c, SERVICE) in args.services]
    if not containers:
        raise NotFound(f'no containers for project "{name}"')
    lock = threading.Lock()
    last: list[int] = []
    failed: list[CoveError] = []

    def wait_one(c: Container) -> None:
        try:
            code = backend.wait_container(c.record.id)
        except CoveError as exc:
            failed.append(exc)
            return
        with lock:
            cli.print(f'container "{c.record.id}" exited with status code {code}')
            cli.out.flush()
            last.append(code)

    threads = [threading.Thread(target=wait_one, args=(c,), daemon=True) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    if failed:
        cli.err.write(exitcodes.describe(failed[0]) + "\n")
        return 42  # Docker Compose's, when a wait failed
    if args.down_project:
        down_project(cli, backend, name, project)
    return last[-1] if last else exitcodes.OK


def _service_path(arg: str) -> tuple[str, str] | None:
    """``SERVICE:PATH`` -> (service, path); None for a host path (absolute or ./relative)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None
    service, _, path = arg.partition(":")
    return service, path or "/"


def cmd_cp(cli: Cli, args: argparse.Namespace) -> int:
    from cove.compose.summary import is_oneoff, label, number_of

    src, dest = _service_path(args.src), _service_path(args.dest)
    if src is not None and dest is not None:
        raise UsageError("copying between services is not supported", "cove compose cp")
    if src is None and dest is None:
        raise UsageError("unknown copy direction: one side must be SERVICE:PATH", "cove compose cp")
    service = (src or dest)[0]  # type: ignore[index]
    name, _ = _target(cli, args)
    backend = _backend(cli)
    candidates = [
        c
        for c in _containers(backend, name)
        if label(c, SERVICE) == service and (args.all or not is_oneoff(c))
    ]
    if args.index:
        candidates = [c for c in candidates if number_of(c) == args.index and not is_oneoff(c)]
        if not candidates:
            raise NotFound(f'service "{service}" is not running container #{args.index}')
    if not candidates:
        raise NotFound(f'no container found for service "{service}"')
    candidates.sort(key=lambda c: (is_oneoff(c), number_of(c)))
    if src is not None:  # from the service's first container
        cid = candidates[0].record.id
        if args.dest == "-":
            sys.stdout.flush()
            backend.copy_from(cid, src[1], sys.stdout.buffer, follow=args.follow_link)
            sys.stdout.buffer.flush()
        else:
            backend.copy_out(cid, src[1], Path(args.dest), follow=args.follow_link)
        return exitcodes.OK
    assert dest is not None
    if args.src == "-":  # one stream: it can be read once
        data = sys.stdin.buffer.read()
        for c in candidates:
            backend.copy_to(c.record.id, dest[1], io.BytesIO(data))
        return exitcodes.OK
    for c in candidates:  # to every container of the service, as Docker Compose copies
        backend.copy_in(c.record.id, Path(args.src), dest[1])
    return exitcodes.OK


# --- events, version --------------------------------------------------------------------------


def event_text(event: Any) -> str:
    """Docker Compose's line: ``2026-01-01 12:00:00.000000 container start ID (image=..., name=...)``."""
    from datetime import datetime

    moment = datetime.fromtimestamp(event.time).strftime("%Y-%m-%d %H:%M:%S.%f")
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
    return f"{moment} container {event.action} {event.container} ({attributes})\n"


def event_json(event: Any) -> str:
    from datetime import datetime

    moment = datetime.fromtimestamp(event.time).astimezone().isoformat()
    return json.dumps(
        {
            "action": event.action,
            "attributes": dict(sorted(event.attributes.items())),
            "id": event.container,
            "service": event.service,
            "time": moment,
            "type": "container",
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def cmd_events(cli: Cli, args: argparse.Namespace) -> int:
    from cove.cli.commands.container_io import parse_time_arg
    from cove.compose.events import watch

    name, _ = _target(cli, args, args.services)
    backend = _backend(cli)
    since, until = parse_time_arg(args.since), parse_time_arg(args.until)
    for event in watch(lambda: _containers(backend, name), services=args.services, since=since, until=until):
        cli.out.write(event_json(event) + "\n" if args.json else event_text(event) + "\n")
        cli.out.flush()
    return exitcodes.OK


def cmd_version(cli: Cli, args: argparse.Namespace) -> int:
    """The machine-readable forms (``--short``, JSON's ``version``) give the Docker Compose version
    whose behaviour cove follows, since scripts compare them with Compose's feature versions
    (``--short`` >= 2.20...); the line for people names cove's own version first."""
    from cove.compose.names import COMPOSE_VERSION
    from cove.version import __version__

    if args.short:
        cli.print(COMPOSE_VERSION)
    elif args.format == "json":
        cli.print(json.dumps({"version": f"v{COMPOSE_VERSION}", "cove": __version__}, separators=(",", ":")))
    else:
        cli.print(f"cove compose version {__version__} (compatible with Docker Compose v{COMPOSE_VERSION})")
    return exitcodes.OK


# --- registration -----------------------------------------------------------------------------


def register(group: Any) -> None:
    p = group.add_parser("ps", help="List containers", description="List the project's containers")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-a", "--all", action="store_true", help="show all stopped containers (run's too)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    p.add_argument("--services", dest="list_services", action="store_true", help="display services")
    p.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="filter by status: paused, restarting, removing, running, dead, created, exited",
    )
    p.add_argument("--filter", help="filter services by a property (status=...)")
    p.add_argument("--format", help="'table', 'json' or a Go template")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--orphans", default="true", help="include orphaned services (default true)")
    p.set_defaults(handler=cmd_ps)

    p = group.add_parser(
        "logs", help="View output from containers", description="View output from containers"
    )
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument(
        "-n", "--tail", default="all", help='number of lines from the end of each log (default "all")'
    )
    p.add_argument("--since", help="logs since a timestamp (2013-01-02T13:23:37Z) or a duration ago (42m)")
    p.add_argument("--until", help="logs before a timestamp or a duration ago")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("--no-log-prefix", action="store_true", help="don't print a prefix in logs")
    p.add_argument("--no-color", action="store_true", help="produce monochrome output")
    p.add_argument("--index", type=int, default=0, help="index of the container if the service has replicas")
    p.set_defaults(handler=cmd_logs)

    p = group.add_parser(
        "exec",
        help="Execute a command in a running container",
        description="Execute a command in a service's running container",
    )
    p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--index", type=int, default=0, help="index of the container if the service has replicas")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to the process")
    p.add_argument("-u", "--user", help="run the command as this user")
    p.add_argument(
        "-T",
        "--no-tty",
        "--no-TTY",
        dest="no_tty",
        action="store_true",
        help="disable pseudo-TTY allocation (a TTY is allocated on a terminal)",
    )
    p.add_argument("-w", "--workdir", help="working directory for this command")
    p.add_argument("-i", "--interactive", action=GoBool, default=True, help=argparse.SUPPRESS)
    p.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    p.set_defaults(handler=cmd_exec)

    p = group.add_parser(
        "run",
        help="Run a one-off command on a service",
        description="Run a one-off command in a new container of a service",
    )
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print its ID")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--no-deps", action="store_true", help="don't start linked services")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount a volume")
    p.add_argument("-p", "--publish", action="append", default=[], help="publish a container's port(s)")
    p.add_argument("-P", "--service-ports", action="store_true", help="publish the service's ports")
    p.add_argument("--entrypoint", help="override the entrypoint of the image")
    p.add_argument(
        "-T",
        "--no-tty",
        "--no-TTY",
        dest="no_tty",
        action="store_true",
        help="disable pseudo-TTY allocation (a TTY is allocated on a terminal)",
    )
    p.add_argument("-i", "--interactive", action=GoBool, default=True, help=argparse.SUPPRESS)
    p.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-u", "--user", help="run as this user")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-l", "--label", action="append", default=[], help="add or override a label")
    p.add_argument("--pull", default="policy", help="pull the image before running: always, missing, never")
    p.add_argument("--quiet-pull", action="store_true", help="pull without printing progress")
    p.add_argument("--build", action="store_true", help="build the image before starting the container")
    p.add_argument("--use-aliases", action="store_true", help="the networks know it by its service's name")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    p.set_defaults(handler=cmd_run)

    p = group.add_parser(
        "top", help="Display the running processes", description="Display the running processes"
    )
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(handler=cmd_top)

    p = group.add_parser(
        "images",
        help="List images used by the created containers",
        description="List images used by the created containers",
    )
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    p.set_defaults(handler=cmd_images)

    p = group.add_parser(
        "port",
        help="Print the public port for a port binding",
        description="Print the public port for a port binding",
    )
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("private_port", metavar="PRIVATE_PORT")
    p.add_argument("--protocol", default="tcp", help="tcp or udp")
    p.add_argument("--index", type=int, default=0, help="index of the container if the service has replicas")
    p.set_defaults(handler=cmd_port)

    p = group.add_parser("ls", help="List running compose projects", description="List compose projects")
    p.add_argument("-a", "--all", action="store_true", help="show all stopped compose projects")
    p.add_argument("-q", "--quiet", action="store_true", help="only display project names")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--filter", action="append", default=[], help="filter output (name=...)")
    p.set_defaults(handler=cmd_ls)

    p = group.add_parser(
        "wait",
        help="Block until containers of all (or specified) services stop",
        description="Block until the services' containers stop",
    )
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p.add_argument("--down-project", action="store_true", help="drop the project when the containers stop")
    p.set_defaults(handler=cmd_wait)

    p = group.add_parser(
        "cp",
        help="Copy files/folders between a service container and the local filesystem",
        description="cp SERVICE:SRC DEST|-   or   cp SRC|- SERVICE:DEST",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p.add_argument("--index", type=int, default=0, help="index of the container if the service has replicas")
    p.add_argument("--all", action="store_true", help="include containers created by the run command")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow symbol link in SRC_PATH")
    p.add_argument("-a", "--archive", action="store_true", help="(always on: ownership and modes are kept)")
    p.set_defaults(handler=cmd_cp)

    p = group.add_parser(
        "events",
        help="Receive real time events from containers",
        description="The project's container events (polled)",
    )
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--json", action="store_true", help="output events as a stream of json objects")
    p.add_argument("--since", help="show the events since this time (from the containers' records)")
    p.add_argument("--until", help="stream events until this time")
    p.set_defaults(handler=cmd_events)

    p = group.add_parser(
        "version",
        help="Show the compose version information",
        description="Show the compose version information",
    )
    p.add_argument("-f", "--format", choices=("pretty", "json"), default="pretty")
    p.add_argument("--short", action="store_true", help="only the version number")
    p.set_defaults(handler=cmd_version)

"""`cove compose` ops commands: their flags parse as Docker Compose's, and `version` (no engine)."""

from __future__ import annotations

import argparse
import io
import json
import re

import pytest

from cove.cli.app import Cli
from cove.cli.commands.compose_ops import event_json, event_text
from cove.cli.main import build_parser, main
from cove.compose.events import Event


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(["compose", *argv]).parse_args(["compose", *argv])


def test_flags_parse_as_docker_compose_takes_them() -> None:
    ps = parse("ps", "-a", "-q", "--status", "exited", "--status", "running", "--format", "json", "web")
    assert ps.all and ps.quiet and ps.status == ["exited", "running"] and ps.services == ["web"]
    logs = parse("logs", "-f", "-n", "5", "-t", "--no-log-prefix", "--no-color", "--index", "2", "web")
    assert logs.follow and logs.tail == "5" and logs.index == 2 and logs.no_log_prefix
    ex = parse("exec", "-T", "-e", "A=1", "-u", "1000", "-w", "/tmp", "--index", "2", "web", "echo", "-T")
    assert ex.no_tty and ex.env == ["A=1"] and ex.command == ["echo", "-T"] and ex.interactive
    run = parse(
        "run",
        "--rm",
        "--no-deps",
        "-P",
        "-v",
        "/a:/b",
        "-l",
        "k=v",
        "--entrypoint",
        "sh -c",
        "web",
        "ls",
        "-l",
    )
    assert run.rm and run.no_deps and run.service_ports and run.command == ["ls", "-l"]
    assert run.entrypoint == "sh -c" and run.label == ["k=v"] and run.volume == ["/a:/b"]
    assert parse("run", "-i=false", "web").interactive is False
    port = parse("port", "--protocol", "udp", "--index", "2", "web", "53")
    assert port.protocol == "udp" and port.private_port == "53"
    cp = parse("cp", "--index", "1", "-L", "web:/etc/hosts", "./hosts")
    assert cp.follow_link and cp.src == "web:/etc/hosts"
    assert parse("wait", "--down-project", "a", "b").services == ["a", "b"]
    assert parse("ls", "-a", "--filter", "name=x").filter == ["name=x"]
    assert parse("events", "--json", "web").json


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["compose", *argv], cli=Cli(stdout=out, stderr=err, env={}))
    return code, out.getvalue(), err.getvalue()


def test_version_forms() -> None:
    assert run_cli("version", "--short") == (0, "5.6.1\n", "")
    code, out, _ = run_cli("version")
    assert code == 0 and out.startswith("cove compose version ") and "Docker Compose v5.6.1" in out
    assert json.loads(run_cli("version", "--format", "json")[1])["version"] == "v5.6.1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("ps", "--filter", "name=x"), "unknown filter name"),
        (("ps", "--filter", "status"), "arguments to --filter should be in form KEY=VAL"),
        (("logs", "--tail", "x"), "invalid --tail value"),
        (("ls", "--filter", "status=running"), "invalid filter 'status'"),
        (("run", "-P", "-p", "80", "web"), "--service-ports and --publish are incompatible"),
        (("cp", "a:/x", "b:/y"), "copying between services is not supported"),
    ],
)
def test_bad_input_is_one_line_and_exit_125(argv: tuple[str, ...], message: str) -> None:
    code, out, err = run_cli(*argv)
    assert code == 125 and out == ""
    assert err.count("\n") == 1 and message in err


def test_event_lines_as_docker_compose_prints_them() -> None:
    event = Event(0.5, "web", "abc", "die", {"name": "app-web-1", "image": "busybox", "exitCode": "1"})
    text = event_text(event)
    assert text.endswith(" container die abc (exitCode=1, image=busybox, name=app-web-1)\n")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.500000 container", text)
    shaped = json.loads(event_json(event))
    assert list(shaped) == ["action", "attributes", "id", "service", "time", "type"]
    assert shaped["type"] == "container" and shaped["id"] == "abc" and shaped["service"] == "web"
    assert shaped["time"].startswith("1970-01-01") or shaped["time"].startswith("1969-12-31")

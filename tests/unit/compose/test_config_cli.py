"""`cove compose config` in-process: listing flags, -q, formats, and a failing file's exit."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from cove.cli.app import Cli
from cove.cli.main import main


def run(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    cli = Cli(stdout=out, stderr=err, env={})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(["compose", *argv], cli=cli)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx\n    volumes: ['d:/d']\n"
        "  dbg:\n    image: busybox\n    profiles: [debug]\nvolumes:\n  d: {}\n"
    )
    return tmp_path


def test_lists(project: Path) -> None:
    assert run(project, "config", "--services")[1] == "web\n"
    assert run(project, "--profile", "debug", "config", "--services")[1] == "dbg\nweb\n"
    assert run(project, "config", "--volumes")[1] == "d\n"
    assert run(project, "config", "--profiles")[1] == "debug\n"
    assert run(project, "--profile", "debug", "config", "--images")[1] == "busybox\nnginx\n"


def test_quiet_and_json(project: Path) -> None:
    assert run(project, "config", "-q") == (0, "", "")
    code, out, _ = run(project, "-p", "demo", "config", "--format", "json")
    assert code == 0 and json.loads(out)["name"] == "demo"


def test_bad_file_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: a\n    depends_on: [db]\n")
    code, out, err = run(tmp_path, "config")
    assert code != 0 and out == ""
    assert err.strip().splitlines() == [
        'Error: compose.yaml: services.web.depends_on: undefined service "db"'
    ]


def test_named_services_are_printed_with_what_they_need(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    profiles: [p]\n"
        "  c:\n    image: c\n"
    )
    assert run(tmp_path, "config", "--services", "a") == (0, "a\nb\n", "")


def test_file_from_stdin(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    cli = Cli(stdout=out, stderr=err, stdin=io.StringIO("services:\n  s:\n    image: x\n"), env={})
    code = main(["compose", "-f", "-", "--project-directory", str(tmp_path), "config", "--images"], cli=cli)
    assert (code, out.getvalue(), err.getvalue()) == (0, "x\n", "")


def test_stdin_named_by_compose_file_is_the_commands_input(tmp_path: Path) -> None:
    # `-` in COMPOSE_FILE reads the command's input, as `-f -` does (not the process's own stdin).
    out, err = io.StringIO(), io.StringIO()
    cli = Cli(
        stdout=out,
        stderr=err,
        stdin=io.StringIO("services:\n  s:\n    image: y\n"),
        env={"COMPOSE_FILE": "-"},
    )
    code = main(["compose", "--project-directory", str(tmp_path), "config", "--images"], cli=cli)
    assert (code, out.getvalue(), err.getvalue()) == (0, "y\n", "")


def test_several_env_files_are_read_in_order_as_compose_go_does(tmp_path: Path) -> None:
    # A later file overrides an earlier one, and expands names from the earlier ones.
    (tmp_path / "a.env").write_text("TAG=1\nBASE=img\n")
    (tmp_path / "b.env").write_text("TAG=2-${BASE}\n")
    (tmp_path / "compose.yaml").write_text("services:\n  s:\n    image: x:${TAG}\n")
    code, out, err = run(tmp_path, "--env-file", "a.env", "--env-file", "b.env", "config", "--images")
    assert (code, out, err) == (0, "x:2-img\n", "")


def test_warnings_for_unset_variables_and_version(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        'version: "3"\nservices:\n  a:\n    image: x$NOPE\n    user: $NOPE\n'
    )
    code, out, err = run(tmp_path, "config", "--images")
    assert (code, out) == (0, "x\n")
    assert err.splitlines() == [
        'WARN[0000] The "NOPE" variable is not set. Defaulting to a blank string.',
        "WARN[0000] compose.yaml: the attribute `version` is obsolete, it will be ignored, "
        "please remove it to avoid potential confusion",
    ]


def test_hash_prints_each_services_config_hash(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: a\n  b:\n    image: b\n    scale: 3\n"
    )
    code, out, err = run(tmp_path, "config", "--hash", "*")
    lines = out.splitlines()
    assert (code, err, [line.split()[0] for line in lines]) == (0, "", ["a", "b"])
    assert all(len(line.split()[1]) == 64 for line in lines) and lines[0].split()[1] != lines[1].split()[1]
    # scaling is not part of the hash: up does not recreate a service only for a new replica count
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: a\n  b:\n    image: b\n")
    assert run(tmp_path, "config", "--hash", "b") == (0, lines[1] + "\n", "")
    code, out, err = run(tmp_path, "config", "--hash", "nope")
    assert (code, out, err.strip()) == (1, "", "Error: no such service: nope")

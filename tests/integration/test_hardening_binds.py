"""Bind mounts of files and directories, as Docker makes them (real runtime, real mounts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CoveRunner

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow


def _left(cove: CoveRunner) -> list[str]:
    return cove("ps", "-aq").out.split()


def test_a_file_bind_mounts_the_file_read_only(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    host = tmp_path / "config.txt"
    host.write_text("from the host\n")
    proc = cove.proc(
        "run", "--rm", "-v", f"{host}:/etc/x:ro", "busybox",
        "sh", "-c", "cat /etc/x; test -f /etc/x && echo a-file; echo changed > /etc/x || echo refused",
    )  # fmt: skip
    assert proc.stdout.decode().splitlines() == ["from the host", "a-file", "refused"]
    assert b"Read-only file system" in proc.stderr
    assert host.read_text() == "from the host\n"
    # Writable, it is the host's file that changes.
    cove.proc("run", "--rm", "-v", f"{host}:/etc/x", "busybox", "sh", "-c", "echo changed > /etc/x")
    assert host.read_text() == "changed\n"
    assert _left(cove) == []


def test_a_file_bind_over_an_image_file_and_into_new_directories(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:from host:/root:/bin/sh\n")
    over = cove.proc("run", "--rm", "-v", f"{passwd}:/etc/passwd:ro", "busybox", "cat", "/etc/passwd")
    assert over.stdout == passwd.read_bytes()
    # The image's own file is untouched.
    image = cove.proc("run", "--rm", "busybox", "cat", "/etc/passwd").stdout.decode()
    assert "from host" not in image and image.startswith("root:")
    # A mount point that is missing is made as a file, its parents as directories.
    deep = cove.proc(
        "run", "--rm", "-v", f"{passwd}:/new/deep/file", "busybox",
        "sh", "-c", "test -f /new/deep/file && test -d /new/deep && cat /new/deep/file",
    )  # fmt: skip
    assert deep.stdout == passwd.read_bytes()
    # --mount type=bind takes a file too, and so does a bind inside a bind's directory.
    share = tmp_path / "share"
    share.mkdir()
    nested = cove.proc(
        "run", "--rm", "--mount", f"type=bind,source={passwd},target=/p,readonly",
        "-v", f"{share}:/share", "-v", f"{passwd}:/share/p", "busybox",
        "sh", "-c", "cat /p /share/p",
    )  # fmt: skip
    assert nested.stdout == passwd.read_bytes() * 2
    assert _left(cove) == []


def test_a_file_onto_a_directory_and_the_reverse_fail(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    host_file = tmp_path / "file"
    host_file.write_text("x\n")
    host_dir = tmp_path / "dir"
    host_dir.mkdir()
    onto_dir = cove.proc("run", "--rm", "-v", f"{host_file}:/etc", "busybox", "true", check=False)
    assert onto_dir.returncode == 125
    assert (
        f"cannot mount the file {host_file} onto /etc: /etc is a directory in the container".encode()
        in onto_dir.stderr
    ), onto_dir.stderr
    onto_file = cove.proc("run", "--rm", "-v", f"{host_dir}:/etc/passwd", "busybox", "true", check=False)
    assert onto_file.returncode == 125
    assert b"cannot mount the directory" in onto_file.stderr and b"/etc/passwd is a file" in onto_file.stderr
    assert len(onto_file.stderr.decode().splitlines()) == 1
    # Inside a directory bind, the host directory's content counts: a directory there.
    (host_dir / "sub").mkdir()
    inside = cove.proc(
        "run", "--rm", "-v", f"{host_dir}:/d", "-v", f"{host_file}:/d/sub", "busybox", "true", check=False
    )
    assert inside.returncode == 125 and b"/d/sub is a directory" in inside.stderr
    # In a tmpfs, which starts empty, nothing is in the way.
    tmpfs = cove.proc("run", "--rm", "--tmpfs", "/etc", "-v", f"{host_file}:/etc/passwd", "busybox", "true")
    assert tmpfs.returncode == 0
    assert _left(cove) == []
    # cove start says the same, and the container stays as created.
    cid = cove("create", "-v", f"{host_file}:/etc", "busybox", "true").out.strip()
    start = cove("start", cid, check=False)
    assert start.rc == 1 and "is a directory in the container" in start.err
    assert cove("inspect", "--format", "{{.State.Status}}", cid).out == "created\n"


def test_missing_sources_follow_docker(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    made = tmp_path / "made" / "by" / "v"
    cove.proc("run", "--rm", "-v", f"{made}:/m", "busybox", "true")
    assert made.is_dir()  # -v: a missing source becomes a directory
    # --mount: a source gone between create and start is an error at start, not a directory.
    source = tmp_path / "gone"
    source.write_text("")
    cid = cove("create", "--mount", f"type=bind,source={source},target=/g", "busybox", "true").out.strip()
    source.unlink()
    start = cove("start", cid, check=False)
    assert start.rc == 1 and f"bind source path does not exist: {source}" in start.err
    assert not source.exists()

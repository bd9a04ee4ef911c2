"""Ways out of a container, an image or a build context, tried for real: each must lead nowhere.

The racer is the one that found Docker's CVE-2018-15664: a container that keeps swapping a
directory and a symbolic link to a host directory, so that a path checked on the host and
then opened by name can lead outside. Where a racer lives in another container that shares a
volume with the target, pausing the target (as cp does) stops nothing: only resolving and
opening in one step inside the container's root holds.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO, CoveRunner, need_tool

# /w/dir is a directory holding keep, and a link to the host directory, in turns, millions of
# times a second (an atomic exchange of two names: the busybox loop of mv's is a slower racer).
SWAP = "mkdir -p /w/dir; echo FAKE > /w/dir/keep; ln -s {host} /w/sym; exec /helpers/swapper /w/dir /w/sym"


@pytest.fixture(scope="session")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the static test helpers, built from tests/helpers/c."""
    gcc = need_tool("gcc")
    directory = tmp_path_factory.mktemp("helpers")
    source = REPO / "tests" / "helpers" / "c" / "swapper.c"
    subprocess.run([gcc, "-static", "-O2", "-o", str(directory / "swapper"), str(source)], check=True)
    return directory


def host_dir(tmp_path: Path) -> Path:
    """A host directory with a file the containers must never see, and nothing else in it."""
    directory = tmp_path / "HOSTDIR"
    directory.mkdir()
    (directory / "keep").write_text("HOST\n")
    return directory


def start_racer(cove: CoveRunner, helpers: Path, host: Path, *args: str) -> str:
    argv = ("run", "-d", "--init", "-v", f"{helpers}:/helpers:ro", *args, "busybox", "sh", "-c")
    return cove(*argv, SWAP.format(host=host)).out.strip()


def copy_out_attempts(cove: CoveRunner, target: str, rounds: int, tmp_path: Path) -> dict[str, int]:
    """cp TARGET:/w/dir/keep -> what came out, counted."""
    seen: dict[str, int] = {}
    for i in range(rounds):
        out = tmp_path / f"out{i}"
        result = cove("cp", f"{target}:/w/dir/keep", str(out), check=False)
        if result.rc == 0 and out.is_file():
            text = out.read_text()
        else:
            assert result.rc == 1 and "Traceback" not in result.err, result
            text = "not found"
        seen[text] = seen.get(text, 0) + 1
    return seen


def copy_in_attempts(cove: CoveRunner, target: str, rounds: int, tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.write_text("injected\n")
    for i in range(rounds):
        result = cove("cp", str(payload), f"{target}:/w/dir/inj{i}", check=False)
        assert result.rc in (0, 1) and "Traceback" not in result.err, result


def test_cp_cannot_be_raced_out_of_the_container(
    cove_busybox: CoveRunner, helpers: Path, tmp_path: Path
) -> None:
    cove = cove_busybox
    host = host_dir(tmp_path)
    racer = start_racer(cove, helpers, host)
    seen = copy_out_attempts(cove, racer, 40, tmp_path)
    copy_in_attempts(cove, racer, 40, tmp_path)
    assert "HOST\n" not in seen, seen
    assert sorted(p.name for p in host.iterdir()) == ["keep"]
    # The racer was paused during each copy and runs on afterwards.
    assert cove("inspect", "--format", "{{.State.Status}}", racer).out == "running\n"


def test_cp_through_a_volume_another_container_races(
    cove_busybox: CoveRunner, helpers: Path, tmp_path: Path
) -> None:
    """The racer shares a volume with the target: pausing the target does not stop it."""
    cove = cove_busybox
    host = host_dir(tmp_path)
    start_racer(cove, helpers, host, "-v", "shared:/w")
    target = cove("run", "-d", "--init", "-v", "shared:/w", "busybox", "sleep", "600").out.strip()
    seen = copy_out_attempts(cove, target, 60, tmp_path)
    copy_in_attempts(cove, target, 40, tmp_path)
    assert "HOST\n" not in seen, seen
    assert seen.get("FAKE\n", 0) > 0, seen  # the copies did reach the container's own file
    assert sorted(p.name for p in host.iterdir()) == ["keep"]
    # And with the target stopped (its files then reached through a mounted view).
    cove("stop", "-t", "0", target)
    seen = copy_out_attempts(cove, target, 40, tmp_path)
    copy_in_attempts(cove, target, 40, tmp_path)
    assert "HOST\n" not in seen, seen
    assert sorted(p.name for p in host.iterdir()) == ["keep"]


def test_cp_resolves_links_inside_the_container(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """Links are followed as the container would: an absolute or ../ target stays inside."""
    cove = cove_busybox
    host = host_dir(tmp_path)
    script = (
        f"mkdir -p /w/real; echo INSIDE > /w/real/keep; ln -s {host} /w/abs; "
        f"ln -s ../../../../../{host} /w/up; ln -s /w/real /w/inner; ln -s keep /w/real/link; "
        "mkfifo /w/fifo; exec sleep 600"
    )
    cid = cove("run", "-d", "--init", "busybox", "sh", "-c", script).out.strip()
    for path in ("/w/abs/keep", "/w/up/keep"):
        result = cove("cp", f"{cid}:{path}", str(tmp_path / "o"), check=False)
        assert result.rc == 1 and f"Could not find the file {path}" in result.err, result
    cove("cp", f"{cid}:/w/inner/keep", str(tmp_path / "inner"))
    assert (tmp_path / "inner").read_text() == "INSIDE\n"
    # A final link is copied as a link, unless -L.
    cove("cp", f"{cid}:/w/real/link", str(tmp_path / "link"))
    assert os.readlink(tmp_path / "link") == "keep"
    cove("cp", "-L", f"{cid}:/w/real/link", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text() == "INSIDE\n"
    # A FIFO is archived as a FIFO (never opened, so never blocks).
    archive = cove.proc("cp", f"{cid}:/w/fifo", "-", timeout=20).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getmembers()[0].isfifo()
    # Into a link to a host directory: it means the container's own directory of that name.
    (tmp_path / "f").write_text("in\n")
    result = cove("cp", str(tmp_path / "f"), f"{cid}:/w/abs/f", check=False)
    assert result.rc == 1, result
    assert sorted(p.name for p in host.iterdir()) == ["keep"]

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
from tests.helpers.containers import mounts_mentioning, processes_mentioning, wait_until

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

# /w/dir is a directory holding keep, and a link to the host directory, in turns, millions of
# times a second (an atomic exchange of two names: the busybox loop of mv's is a slower racer).
SECRET = "SECRET-OF-THE-HOST\n"  # what the host directory's file holds
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
    (directory / "keep").write_text(SECRET)
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
    assert SECRET not in seen, seen
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
    assert SECRET not in seen, seen
    assert seen.get("FAKE\n", 0) > 0, seen  # the copies did reach the container's own file
    assert sorted(p.name for p in host.iterdir()) == ["keep"]
    # And with the target stopped (its files then reached through a mounted view).
    cove("stop", "-t", "0", target)
    seen = copy_out_attempts(cove, target, 40, tmp_path)
    copy_in_attempts(cove, target, 40, tmp_path)
    assert SECRET not in seen, seen
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


# -- the build context ------------------------------------------------------------------------


def context_with_links(tmp_path: Path, host: Path) -> Path:
    """A context whose links lead to the host directory (absolute, and ../ enough to leave),
    to the context's own files, and to a host file; with an inner directory to copy whole."""
    ctx = tmp_path / "ctx"
    (ctx / "real").mkdir(parents=True)
    (ctx / "real" / "keep").write_text("CONTEXT\n")
    (ctx / "dirlink").symlink_to(host)
    (ctx / "uplink").symlink_to("../" * 12 + str(host).lstrip("/"))
    (ctx / "inner").symlink_to("real")
    (ctx / "real" / "hostfile").symlink_to(host / "keep")
    return ctx


def build(
    cove: CoveRunner, ctx: Path, dockerfile: str, *args: str, stdin: bytes | None = None
) -> tuple[int, str]:
    (ctx / "Dockerfile").write_text(dockerfile)
    if stdin is None:
        proc = cove.proc("build", "--progress", "plain", *args, str(ctx), check=False)
    else:
        proc = cove.proc("build", "--progress", "plain", *args, "-", input=stdin, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


def tar_of(ctx: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(ctx, arcname=".")
    return out.getvalue()


@pytest.mark.parametrize("via", ["directory", "tar on stdin"])
def test_build_context_links_never_reach_the_host(cove_busybox: CoveRunner, tmp_path: Path, via: str) -> None:
    cove = cove_busybox
    host = host_dir(tmp_path)
    ctx = context_with_links(tmp_path, host)

    def attempt(dockerfile: str, *args: str) -> tuple[int, str]:
        if via == "directory":
            return build(cove, ctx, dockerfile, *args)
        (ctx / "Dockerfile").write_text(dockerfile)
        return build(cove, ctx, dockerfile, *args, stdin=tar_of(ctx))

    for source in ("dirlink/keep", "uplink/keep", "dirlink"):
        code, out = attempt(f"FROM busybox\nCOPY {source} /d\n", "-t", "leak")
        assert code == 1 and "not found in the build context" in out, out
        assert SECRET not in out
    code, out = attempt("FROM busybox\nRUN --mount=type=bind,source=dirlink,target=/m cat /m/keep\n")
    assert code == 1 and SECRET not in out, out
    # Links that stay inside are followed, as BuildKit does; a link inside a copied directory
    # is copied as the link it is.
    script = "cat /d/keep; cat /m/keep; readlink /all/hostfile; cat /all/hostfile || echo unreadable"
    dockerfile = (
        "FROM busybox\nCOPY inner/ /d/\nCOPY real /all\n"
        f"RUN --mount=type=bind,source=inner,target=/m sh -c '{script}'\n"
    )
    code, out = attempt(dockerfile, "--no-cache", "-t", "inside")
    assert code == 0, out
    assert "CONTEXT\nCONTEXT" in out.replace("\r", "") or out.count("CONTEXT") >= 2, out
    assert str(host / "keep") in out and "unreadable" in out and SECRET not in out
    assert sorted(p.name for p in host.iterdir()) == ["keep"]


def test_a_tar_context_cannot_point_its_dockerfile_or_ignore_file_at_the_host(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    host = host_dir(tmp_path)
    (host / "Dockerfile").write_text("HOST SECRET LINE\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").symlink_to(host / "Dockerfile")
    proc = cove.proc("build", "-", input=tar_of(ctx), check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "holds no Dockerfile" in err and "SECRET" not in err, err
    (ctx / "Dockerfile").unlink()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /c\n")
    (ctx / "file").write_text("x\n")
    (host / "ignore").write_text("file\n")
    (ctx / ".dockerignore").symlink_to(host / "ignore")
    proc = cove.proc("build", "-q", "-t", "ign", "-", input=tar_of(ctx), check=False)
    assert proc.returncode == 0, proc.stderr
    assert cove.proc("run", "--rm", "ign", "cat", "/c/file").stdout == b"x\n"  # the host's list was not read


def test_a_killed_build_leaves_its_contexts_files_alone(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """A RUN's bind of the context is a mount under the build's work directory: the cleanup
    after kill -9 unmounts it before removing anything, so the user's files stay."""
    cove = cove_busybox
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "precious").write_text("keep me\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=bind,source=.,target=/ctx sleep 120\n")
    proc = cove.popen("build", "--no-cache", str(ctx), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: (
                mounts_mentioning(f"{cove.root}/build/work") != [] and processes_mentioning("sleep 120") != []
            ),
            timeout=60,
        )
    finally:
        proc.kill()
        proc.wait()
    # The build's guard undoes the step by itself (no other cove command runs meanwhile)...
    work = cove.root / "build" / "work"
    wait_until(lambda: mounts_mentioning(str(work)) == [] and not any(work.iterdir()), timeout=20)
    assert (ctx / "src" / "precious").read_text() == "keep me\n"
    assert (ctx / "Dockerfile").exists()
    cove("ps")  # ...and the next command's tidy finds nothing of it to undo
    assert (ctx / "src" / "precious").read_text() == "keep me\n"


def test_a_run_step_that_moves_its_mount_points_cannot_make_cove_remove_host_files(
    cove: CoveRunner, tmp_path: Path
) -> None:
    """After a RUN, cove removes the empty stubs the runtime made to mount /etc/hosts and the
    like; a RUN that put a link to a host directory where /etc was must not lead it there.
    (With the copy driver /etc can be renamed away; overlayfs refuses with EXDEV.)"""
    cove.with_driver("copy")
    cove("image", "bootstrap", "busybox", "-q")
    host = host_dir(tmp_path)
    for name in ("hosts", "hostname", "resolv.conf"):
        (host / name).touch()  # empty, as the stubs are: the bait
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    script = f"mv /etc /etc.moved && ln -s {host} /etc && readlink /etc"
    code, out = build(cove, ctx, f"FROM busybox\nRUN {script}\n", "--no-cache", "-t", "moved")
    assert code == 0 and str(host) in out, out
    assert sorted(p.name for p in host.iterdir()) == ["hostname", "hosts", "keep", "resolv.conf"]

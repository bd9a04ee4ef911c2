"""A start that fails leaves no --rm container behind, and --cidfile fails before a container exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow


def _left(cove: CoveRunner) -> list[str]:
    return cove("ps", "-aq").out.split()


def _one_line_error(stderr: bytes) -> None:
    lines = stderr.decode().splitlines()
    assert lines and lines[0].startswith("Error: ") and "Traceback" not in stderr.decode(), stderr


def test_run_rm_removes_the_container_whatever_stops_the_start(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # A working directory below a file of the image: the start fails on the host side.
    below_file = cove.proc("run", "--rm", "-w", "/etc/passwd/sub", "busybox", "true", check=False)
    assert below_file.returncode == 125
    _one_line_error(below_file.stderr)
    assert _left(cove) == []
    # An image whose passwd has a user with a broken ID line.
    cove("run", "--name", "mk", "busybox", "sh", "-c", "echo 'app:x:abc:0::/:/bin/sh' >> /etc/passwd")
    cove("commit", "mk", "badpasswd:1")
    cove("rm", "mk")
    bad_user = cove.proc("run", "--rm", "-u", "app", "badpasswd:1", "true", check=False)
    assert bad_user.returncode == 125
    _one_line_error(bad_user.stderr)
    assert _left(cove) == []
    # -d too, and with an anonymous volume: gone with the container, as Docker's daemon does.
    detached = cove.proc("run", "-d", "--rm", "-v", "/data", "busybox", "nosuchprogram", check=False)
    assert detached.returncode == 127 and b"nosuchprogram" in detached.stderr
    assert _left(cove) == [] and cove("volume", "ls", "-q").out == ""


def test_a_created_rm_container_goes_when_its_start_fails_unexpectedly(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("create", "--rm", "busybox", "true").out.strip()
    # The host side breaks under it (here the bundle's config file is a directory): a bug's
    # exception, not one of cove's errors, and the container still goes.
    bundle_config = cove.root / "containers" / cid / "bundle" / "config.json"
    bundle_config.mkdir(parents=True)
    broken = cove("start", cid, check=False)
    assert broken.rc != 0 and "Error:" in broken.err
    assert _left(cove) == []
    # An expected failure too: cove start of a --rm container that cannot run.
    cid = cove("create", "--rm", "busybox", "nosuchprogram").out.strip()
    failed = cove("start", cid, check=False)
    assert failed.rc == 1 and "nosuchprogram" in failed.err
    assert _left(cove) == []
    # Without --rm, a failed start keeps the container, as created.
    cid = cove("create", "busybox", "nosuchprogram").out.strip()
    assert cove("start", cid, check=False).rc == 1
    assert cove("inspect", "--format", "{{.State.Status}}", cid).out == "created\n"


def test_cidfile_errors_come_before_the_container(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    missing = tmp_path / "missing" / "dir" / "cid"
    for verb in ("run", "create"):
        result = cove(verb, "--cidfile", str(missing), "busybox", "true", check=False)
        assert result.rc == 125, result
        assert result.err == (
            f"Error: failed to create the container ID file: open {missing}: no such file or directory\n"
        )
        assert _left(cove) == []
    existing = tmp_path / "cid"
    existing.write_text("someone else's\n")
    found = cove("run", "--rm", "--cidfile", str(existing), "busybox", "true", check=False)
    assert found.rc == 125
    assert "container ID file found, make sure the other container isn't running" in found.err
    assert existing.read_text() == "someone else's\n" and _left(cove) == []
    # A create that fails takes back the file it made.
    fresh = tmp_path / "fresh"
    bad = cove("run", "--cidfile", str(fresh), "--name", "bad/name", "busybox", "true", check=False)
    assert bad.rc == 125 and "invalid container name" in bad.err
    assert not fresh.exists()
    # A start that fails keeps the ID written, as Docker's does; --rm still removes the container.
    failed = cove("run", "--rm", "--cidfile", str(fresh), "busybox", "nosuchprogram", check=False)
    assert failed.rc == 127
    assert re.fullmatch(r"[0-9a-f]{64}", fresh.read_text())
    assert _left(cove) == []


def test_an_image_whose_passwd_is_a_directory(cove_busybox: CoveRunner) -> None:
    """The runtime refuses it (as with Docker); --rm still removes the container."""
    cove = cove_busybox
    cove("run", "--name", "mk", "busybox", "sh", "-c", "rm /etc/passwd && mkdir /etc/passwd")
    cove("commit", "mk", "dirpasswd:1")
    cove("rm", "mk")
    for user in ("0", "nobody"):
        failed = cove.proc("run", "--rm", "-u", user, "dirpasswd:1", "true", check=False)
        assert failed.returncode == 125
        _one_line_error(failed.stderr)
        assert _left(cove) == []
    cid = cove("create", "--rm", "dirpasswd:1", "true").out.strip()
    assert cove("start", cid, check=False).rc == 1
    assert _left(cove) == []


def test_run_rm_takes_the_anonymous_volumes_with_it(cove_busybox: CoveRunner) -> None:
    """As Docker's --rm: the container and its anonymous volumes go; named ones stay."""
    cove = cove_busybox
    cove("run", "--rm", "-v", "/anon", "-v", "kept:/named", "busybox", "true")
    assert cove("volume", "ls", "-q").out == "kept\n"
    cove("run", "-d", "--rm", "-v", "/anon", "busybox", "true")  # removed by its monitor
    wait_until(lambda: cove("ps", "-aq").out == "" and cove("volume", "ls", "-q").out == "kept\n")

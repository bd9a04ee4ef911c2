"""A store whose disk fills up while a container writes its output: the monitor lives on, drops
(and counts) what the log cannot take, and keeps the container's exit code."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CoveRunner, release_host_network
from tests.helpers.containers import wait_until

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

# Output well past the room left: about 20 MB of log records.
NOISY = "yes 'a line of output that goes to the log' | head -n 250000"
AWAIT_GO = "until [ -e /signal/go ]; do sleep 0.05; done"


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, name: str, leave: int = 0) -> Path:
    """A file that takes all the free space of ``path``'s file system but ``leave`` bytes."""
    filler = path / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = free_bytes(path) - leave
        while size > 0:
            try:
                os.posix_fallocate(fd, 0, size)
                break
            except OSError:
                size -= 4096
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def small(tmp_path: Path, busybox_template: Path, mounted: list[Path]) -> Iterator[CoveRunner]:
    """A busybox store on a 32 MiB tmpfs of its own (its runtime directory elsewhere)."""
    point = tmp_path / "small"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=700", "tmpfs", str(point)], check=True)
    mounted.append(point)
    (tmp_path / "config.toml").write_text("")
    runner = CoveRunner(point / "root", tmp_path / "run", tmp_path / "config.toml")
    subprocess.run(["cp", "-a", str(busybox_template), str(runner.root)], check=True)
    yield runner
    for filler in point.glob("filler*"):
        filler.unlink()
    ids = runner("ps", "-aq", "--no-trunc", check=False).out.split()
    if ids:
        runner("rm", "-f", *ids, check=False)
    release_host_network(runner)  # before the store goes with its file system


def run_noisy(cove: CoveRunner, signal_dir: Path, script: str) -> subprocess.Popen[bytes]:
    return cove.popen(
        "run", "--name", "noisy", "--network", "none", "-v", f"{signal_dir}:/signal", "busybox",
        "sh", "-c", script, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def inspect(cove: CoveRunner, field: str) -> str:
    return cove("inspect", "--format", "{{" + field + "}}", "noisy").out.strip()


def test_a_full_disk_drops_log_lines_and_keeps_the_exit_code(small: CoveRunner, tmp_path: Path) -> None:
    cove = small
    store = cove.root.parent
    fill(store, "filler", leave=4 << 20)
    signals = tmp_path / "signal"
    signals.mkdir()
    client = run_noisy(cove, signals, f"echo first; {NOISY}; touch /signal/filled; exit 7")
    _, err = client.communicate(timeout=120)
    assert (client.returncode, err) == (7, b"")
    assert free_bytes(store) < 256 << 10, "the disk did not fill up"
    assert inspect(cove, ".State.ExitCode") == "7"
    assert inspect(cove, ".State.Status") == "exited"
    error = inspect(cove, ".State.Error")
    assert " lines of output (" in error and error.endswith("could not be logged: No space left on device")
    cid = inspect(cove, ".Id")
    assert not (cove.root / "containers" / cid / "state.json.spare").exists()  # given back
    (store / "filler").unlink()
    logs = cove.proc("logs", "noisy")
    assert logs.stdout.startswith(b"first\n"), logs.stdout[:100]
    assert logs.stdout.count(b"\n") < 250_000  # some were dropped
    assert logs.stderr == b""  # no note: nothing was written after the disk filled


def test_lines_after_the_disk_frees_come_with_a_note(small: CoveRunner, tmp_path: Path) -> None:
    cove = small
    store = cove.root.parent
    fill(store, "filler", leave=4 << 20)
    signals = tmp_path / "signal"
    signals.mkdir()
    # (the writer tries again a second after its last failure: the line comes later than that)
    script = f"{NOISY}; touch /signal/filled; {AWAIT_GO}; sleep 1.2; echo after; exit 7"
    client = run_noisy(cove, signals, script)
    try:
        wait_until((signals / "filled").exists, timeout=120)
        (store / "filler").unlink()
        (signals / "go").touch()
        _, err = client.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            client.kill()
    assert (client.returncode, err) == (7, b"")
    logs = cove.proc("logs", "--tail", "2", "noisy")
    assert logs.stdout.endswith(b"after\n")
    (note,) = logs.stderr.decode().splitlines()
    lines, _, rest = note.removeprefix("[cove] ").partition(" ")
    assert (
        int(lines) > 0
        and rest.startswith("lines (")
        and rest.endswith("of output were not logged: No space left on device")
    ), note
    assert inspect(cove, ".State.ExitCode") == "7"
    assert f"{lines} lines of output" in inspect(cove, ".State.Error")


def test_an_exit_that_cannot_be_written_is_served_then_written(small: CoveRunner, tmp_path: Path) -> None:
    cove = small
    store = cove.root.parent
    fill(store, "filler", leave=4 << 20)
    signals = tmp_path / "signal"
    signals.mkdir()
    script = f"{NOISY}; touch /signal/filled; {AWAIT_GO}; exit 7"
    client = run_noisy(cove, signals, script)
    try:
        wait_until((signals / "filled").exists, timeout=120)
        cid = inspect(cove, ".Id")
        # No spare to fall back on, and not a byte free: the exit record cannot be written.
        (cove.root / "containers" / cid / "state.json.spare").unlink()
        fill(store, "filler-2")
        assert free_bytes(store) == 0
        (signals / "go").touch()
        _, err = client.communicate(timeout=60)
        assert (client.returncode, err) == (7, b"")  # from the monitor's memory
        waited = cove.proc("wait", "noisy")
        assert waited.stdout == b"7\n"
        assert inspect(cove, ".State.Status") == "running"  # the record on disk is behind
        (store / "filler-2").unlink()  # the monitor writes it within a second or so
        wait_until(lambda: inspect(cove, ".State.Status") == "exited", timeout=10)
        assert inspect(cove, ".State.ExitCode") == "7"
    finally:
        with contextlib.suppress(ProcessLookupError):
            client.kill()

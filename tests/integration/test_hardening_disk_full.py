"""A full disk: each command says so in one line (the first failure, not what undoing it hit),
the store stays whole, and the prunes give back what unfinished downloads took."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CoveRunner, release_host_network
from tests.helpers.registry import Registry, put_image
from tests.helpers.tars import file, make_tar

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

MB = 1 << 20


@pytest.fixture
def small_store(cove: CoveRunner, mounted: list[Path]) -> Iterator[CoveRunner]:
    """``cove`` with its root on a 24 MiB tmpfs of its own."""
    cove.root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0711", "tmpfs", str(cove.root)], check=True)
    mounted.append(cove.root)
    yield cove
    # Before the tmpfs goes: room to work, then the containers and the host's network
    # objects of this store (found through its database).
    for filler in cove.root.glob("filler-*"):
        filler.unlink()
    ids = cove("ps", "-aq", "--no-trunc", check=False).out.split()
    if ids:
        cove("rm", "-f", *ids, check=False)
    release_host_network(cove)


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem holding ``directory``."""
    filler = directory / f"filler-{len(list(directory.glob('filler-*')))}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (MB, 64 * 1024, 4096, 1):
            try:
                while os.write(fd, bytes(size)):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def partials(cove: CoveRunner) -> list[Path]:
    ingest = cove.root / "content" / "ingest"
    return sorted(p for p in ingest.glob("partial-*") if not p.name.endswith(".lock"))


def assert_one_no_space_line(err: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: no space left on device while writing "), err
    assert "(hint: free some space there; `cove system prune -a` removes" in lines[0]


def assert_whole(cove: CoveRunner) -> None:
    """No half-made snapshot or container is left (after the start-up cleanup ran)."""
    cove("ps")
    with sqlite3.connect(f"file:{cove.root / 'cove.db'}?mode=ro", uri=True) as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM snapshots")]
        ids = {str(i) for (i,) in db.execute("SELECT id FROM snapshots")}
        containers = db.execute("SELECT count(*) FROM containers").fetchone()[0]
    assert "preparing" not in kinds
    assert {p.name for p in (cove.root / "snapshots").iterdir()} == ids
    assert containers == len(list((cove.root / "containers").glob("?" * 64)))


def test_a_pull_that_fills_the_disk_says_so_and_prune_frees_its_downloads(
    small_store: CoveRunner, registry: Registry
) -> None:
    cove = small_store
    layers = [make_tar([file(f"layer{i}.bin", os.urandom(4 * MB))]) for i in range(5)]
    put_image(registry, "big", "1", layers)
    pull = cove("pull", f"{registry.host}/big:1", check=False)
    assert pull.rc == 1
    assert_one_no_space_line(pull.err)
    assert "big" not in cove("images").out

    kept = partials(cove)
    assert kept, "an interrupted pull keeps what it downloaded, to resume"
    kept_bytes = sum(p.stat().st_blocks * 512 for p in kept)
    engine = cove.engine()
    try:
        images = next(r for r in engine.system.df().rows if r.kind == "Images")
    finally:
        engine.close()
    assert images.size >= kept_bytes and images.reclaimable >= kept_bytes

    # A pull still writing a partial file holds its flock: prune leaves that one alone.
    busy = kept[0]
    lock_fd = os.open(f"{busy}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it: the pull ended
        assert cove("system", "prune", "-af").rc == 0
        assert partials(cove) == [busy]
    finally:
        os.close(lock_fd)
    assert cove("builder", "prune", "-af").rc == 0
    assert partials(cove) == []
    assert_whole(cove)


def test_run_and_create_on_a_full_disk_say_so_and_leave_nothing_half_made(small_store: CoveRunner) -> None:
    cove = small_store
    cove("image", "bootstrap", "busybox", "-q")
    cove("volume", "create", "data")
    fillers = [fill(cove.root)]
    cove("images")  # may give back the store's reserve (the database must open to free space)
    fillers.append(fill(cove.root))
    for command in (
        ["run", "--rm", "busybox", "true"],
        ["create", "--name", "c1", "busybox", "true"],
        ["run", "-v", "data:/data", "busybox", "true"],
    ):
        result = cove.proc(*command, check=False)
        assert result.returncode == 125, (command, result)
        assert_one_no_space_line(result.stderr.decode())
    for filler in fillers:
        filler.unlink()
    assert_whole(cove)
    assert cove("ps", "-aq").out == ""
    assert cove.proc("run", "--rm", "busybox", "echo", "ok").stdout == b"ok\n"

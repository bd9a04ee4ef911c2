"""kill -9 at any point and several cove processes at once never leave a broken store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers import tars as t
from tests.helpers.images import build_image, tar_directory, write_oci_layout
from tests.helpers.store import check_store

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"cove finished (rc={proc.returncode}) before the point to kill it")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the point to kill cove")
        time.sleep(0.005)


def preparing_snapshots(cove: CoveRunner) -> int:
    db = cove.root / "cove.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM snapshots WHERE kind = 'preparing'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def ingesting(cove: CoveRunner) -> bool:
    ingest = cove.root / "content" / "ingest"
    return ingest.exists() and any(p.stat().st_size > 1 << 20 for p in ingest.iterdir())


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def assert_whole(cove: CoveRunner) -> None:
    cove("images")  # any command tidies what the killed one left
    engine = cove.engine()
    try:
        check_store(engine)
    finally:
        engine.close()


@pytest.mark.parametrize("point", ["ingest", "unpack"])
def test_kill_during_import(cove: CoveRunner, debian_tarball: Path, point: str) -> None:
    proc = cove.popen("import", str(debian_tarball), "debian:killed", stdout=subprocess.DEVNULL)
    if point == "ingest":
        wait_for(lambda: ingesting(cove), proc)
    else:
        wait_for(lambda: preparing_snapshots(cove) > 0 and ingesting(cove), proc)
        time.sleep(0.2)
    kill9(proc)
    assert_whole(cove)
    assert cove("images", "-q").out == ""
    cove("import", "-q", str(debian_tarball), "debian:ok")
    assert_whole(cove)


def test_kill_at_random_moments_of_a_load(cove: CoveRunner, tmp_path: Path, debian_tarball: Path) -> None:
    cove("import", "-q", str(debian_tarball), "debian:base")
    cove("save", "debian:base", "-o", str(tmp_path / "deb.tar"))
    cove("rmi", "debian:base")
    for delay in (0.05, 0.25, 0.5, 0.8, 1.2):
        proc = cove.popen("load", "-i", str(tmp_path / "deb.tar"), stdout=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            kill9(proc)
        assert_whole(cove)
        cove("rmi", "debian:base", check=False)
    assert cove("load", "-i", str(tmp_path / "deb.tar")).out == "Loaded image: debian:base\n"
    assert_whole(cove)


def test_kill_during_save_leaves_no_archive(cove: CoveRunner, tmp_path: Path, debian_tarball: Path) -> None:
    cove("import", "-q", str(debian_tarball), "debian:base")
    out = tmp_path / "out.tar"
    proc = cove.popen("save", "debian:base", "-o", str(out))

    def writing() -> bool:
        return any(p.stat().st_size > 1 << 20 for p in tmp_path.glob(".out.tar.cove-*"))

    wait_for(writing, proc)
    kill9(proc)
    assert not out.exists()
    assert_whole(cove)
    cove("save", "debian:base", "-o", str(out))  # also removes the killed run's temporary file
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    cove("rmi", "debian:base")
    assert cove("load", "-i", str(out)).out == "Loaded image: debian:base\n"


def _layout_archive(tmp_path: Path, layers: int = 5) -> Path:
    entries = [t.make_tar([t.file(f"layer{i}/data", os.urandom(3 << 20))]) for i in range(layers)]
    image = build_image(entries, gzip_layers=True)
    write_oci_layout(tmp_path / "layout", [(image, "example.com/five:1")])
    path = tmp_path / "five.tar"
    path.write_bytes(tar_directory(tmp_path / "layout"))
    return path


def test_two_loads_of_one_archive_at_once(cove: CoveRunner, tmp_path: Path) -> None:
    archive = _layout_archive(tmp_path)
    procs = [
        cove.popen("load", "-i", str(archive), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out == b"Loaded image: example.com/five:1\n"
    assert_whole(cove)
    engine = cove.engine()
    try:
        assert len(engine.store.snapshotter.all()) == 5  # each layer unpacked once
    finally:
        engine.close()


def test_prune_while_importing(cove: CoveRunner, tmp_path: Path, debian_tarball: Path) -> None:
    importer = cove.popen("import", str(debian_tarball), "debian:busy", stdout=subprocess.DEVNULL)
    wait_for(lambda: ingesting(cove), importer)
    pruner = cove.popen("system", "prune", "-a", "-f", stdout=subprocess.DEVNULL)
    assert importer.wait(timeout=120) == 0
    assert pruner.wait(timeout=120) == 0
    assert_whole(cove)

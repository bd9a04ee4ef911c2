"""What a real import or pull asks of the disk, seen with strace: every blob's bytes flushed
before its rename and its directory after, one syncfs per unpacked layer (never one fsync
per file), and the database synced once the image is recorded, after all of it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import CoveRunner, need_tool
from tests.helpers.registry import Registry, put_image
from tests.helpers.tars import directory, file, make_tar

CALL = re.compile(r"^\d+\s+(?P<name>\w+)\((?P<args>.*?)(?:\) += (?P<rc>-?\d+)| <unfinished \.\.\.>)")


def traced(cove: CoveRunner, log: Path, *args: str) -> list[tuple[str, str]]:
    """Run ``cove ARGS`` under strace; return its (call, arguments) in order, paths relative
    to the store's root (``R``)."""
    strace = need_tool("strace")
    calls = "fdatasync,fsync,syncfs,rename,renameat,renameat2"
    cmd = [strace, "-f", "-qq", "-y", "-e", f"trace={calls}", "-o", str(log), sys.executable, "-m", "cove"]
    proc = subprocess.run([*cmd, *args], env=cove.env, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    out = []
    for line in log.read_text().splitlines():
        m = CALL.match(line)
        if m and m["rc"] != "-1":
            out.append((m["name"], m["args"].replace(str(cove.root), "R")))
    return out


def blob_renames(calls: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(index, source, blob) of each rename into the content store."""
    found = []
    for i, (name, args) in enumerate(calls):
        if name.startswith("rename") and "R/content/blobs/sha256/" in args:
            source, target = re.findall(r'"([^"]+)"', args)[-2:]
            found.append((i, source, target))
    return found


def assert_blobs_flushed_in_order(calls: list[tuple[str, str]]) -> None:
    renames = blob_renames(calls)
    assert renames, calls
    for i, source, _ in renames:
        before = [args for name, args in calls[:i] if name == "fdatasync"]
        assert any(args.endswith(f"<{source}>") for args in before), f"{source} renamed unflushed"
        after = calls[i + 1 : i + 4]
        assert any(n == "fsync" and a.endswith("<R/content/blobs/sha256>") for n, a in after), after


def syncfs_of_layers(calls: list[tuple[str, str]]) -> list[int]:
    return [i for i, (n, a) in enumerate(calls) if n == "syncfs" and re.search(r"<R/snapshots/\d+/fs>", a)]


def last_wal_sync(calls: list[tuple[str, str]]) -> int:
    return max(i for i, (n, a) in enumerate(calls) if n == "fdatasync" and a.endswith("<R/cove.db-wal>"))


def test_an_import_flushes_each_commit_in_order(cove: CoveRunner, tmp_path: Path) -> None:
    layer = make_tar([directory("etc"), *(file(f"etc/f{i}", b"x" * 100) for i in range(40))])
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(layer)
    calls = traced(cove, tmp_path / "strace.log", "import", "-q", str(tarball), "flushed:1")
    assert_blobs_flushed_in_order(calls)
    layers = syncfs_of_layers(calls)
    assert len(layers) == 1, calls  # one for the layer's 41 entries, not one each
    assert not any(n in ("fsync", "fdatasync") and "R/snapshots/" in a for n, a in calls)
    # The image record is synced after its layer and its blobs.
    assert last_wal_sync(calls) > max(layers[-1], blob_renames(calls)[-1][0])
    assert cove("images", "--format", "{{.Repository}}").out == "flushed\n"


def test_a_pull_flushes_each_download_and_layer_before_the_image_is_recorded(
    cove: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    layers = [
        make_tar([directory(f"d{n}"), *(file(f"d{n}/f{i}", b"y" * 500) for i in range(30))]) for n in range(3)
    ]
    put_image(registry, "flushed", "1", layers, gzip_layers=True)
    calls = traced(cove, tmp_path / "strace.log", "pull", "-q", f"{registry.host}/flushed:1")
    assert_blobs_flushed_in_order(calls)
    downloads = [source for _, source, _ in blob_renames(calls) if "/partial-" in source]
    assert len(downloads) == 3, blob_renames(calls)
    layer_syncs = syncfs_of_layers(calls)
    assert len(layer_syncs) == 3, calls
    assert last_wal_sync(calls) > max(layer_syncs[-1], blob_renames(calls)[-1][0])

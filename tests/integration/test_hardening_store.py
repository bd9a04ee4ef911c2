"""The store under hostile trees: leftovers of any depth go, and one that cannot go (a mount
point inside it) is reported once without breaking other commands or reaching into the mount."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.engine.types import DiskUsageRow
from tests.conftest import CoveRunner, release_host_network
from tests.helpers.deep import LONG, deep_tree, remove_children

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    first = len(CoveRunner.made)
    yield
    for runner in CoveRunner.made[first:]:  # their bridges and namespaces, while their stores exist
        if (runner.root / "cove.db").exists():
            release_host_network(runner)
    remove_children(tmp_path)


def test_deep_leftovers_go_with_the_next_command(cove_busybox: CoveRunner) -> None:
    root = cove_busybox.root
    leftovers = [
        root / "snapshots" / "trash-77-deadbeef",  # a removed snapshot (a failed import of a deep tar)
        root / "snapshots" / "9999",  # a snapshot directory without a record
        root / "containers" / f".trash-{secrets.token_hex(32)}",  # a removed container
        root / "containers" / secrets.token_hex(32),  # a container directory without a record
        root / "volumes" / ".trash-gone-1234",
        root / "tmp" / "work",
        root / "content" / "ingest" / "odd",
    ]
    for leftover in leftovers:
        deep_tree(leftover, 1100, files=False)
    deep_tree(root / "snapshots" / "trash-78-deadbeef", 30, LONG)  # longer than PATH_MAX
    result = cove_busybox("ps")
    assert result.err == ""
    assert [p for p in [*leftovers, root / "snapshots" / "trash-78-deadbeef"] if p.exists()] == []
    assert cove_busybox("images", "-q").out.strip()


def test_a_container_with_a_tree_of_any_depth_is_listed_sized_and_removed(cove_busybox: CoveRunner) -> None:
    levels = "d/" * 1500  # 3,000 bytes: as deep as a path may be spelt, and then moved below itself
    script = f"mkdir -p /x/{levels} /y/{levels} && mv /y /x/{levels} && echo ok"
    out = cove_busybox.proc("run", "--name", "deep", "busybox", "sh", "-c", script).stdout
    assert out == b"ok\n"
    assert "deep" in cove_busybox("ps", "-a", "-s").out
    df = cove_busybox("system", "df")
    assert df.rc == 0 and "Containers" in df.out
    diff = cove_busybox("diff", "deep", check=False)
    assert diff.rc == 1
    assert diff.err.startswith("Error: cannot list the changes: a path is longer than 4096 bytes: /x/d/d/d")
    cove_busybox("rm", "deep")
    snapshots = cove_busybox.root / "snapshots"
    assert [p.name for p in snapshots.iterdir() if p.name.startswith("trash-")] == []
    assert cove_busybox("ps", "-a").err == ""


def _mount(kind: list[str], target: Path, mounted: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *kind, str(target)], check=True)
    mounted.append(target)


def test_a_leftover_holding_a_mount_point_is_reported_once(
    cove_busybox: CoveRunner, tmp_path: Path, mounted: list[Path]
) -> None:
    root = cove_busybox.root
    stuck = root / "snapshots" / "trash-5-0badc0de"
    (stuck / "a").mkdir(parents=True)
    (stuck / "a" / "file").write_text("x")
    # A bind mount of a directory outside the store: nothing in it may be touched.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    _mount(["--bind", str(outside)], stuck / "a" / "bound", mounted)
    other = root / "containers" / f".trash-{secrets.token_hex(32)}"
    deep_tree(other, 1100, files=False)

    first = cove_busybox("ps")
    assert first.rc == 0
    lines = first.err.splitlines()
    assert len(lines) == 1, first.err
    assert lines[0] == (
        f"Warning: cannot remove {stuck}: {stuck}/a/bound: a mount point is in the way"
        " (cove tries again at each command)"
    )
    assert not other.exists()  # the others still went
    assert (outside / "precious").read_text() == "keep me"
    assert not (stuck / "a" / "file").exists()  # what could go went

    for command in (["images"], ["ps", "-a"], ["system", "df"], ["image", "prune", "-f"]):
        result = cove_busybox(*command)
        assert result.rc == 0 and result.err == "", (command, result)
    assert (outside / "precious").read_text() == "keep me"

    subprocess.run(["umount", str(stuck / "a" / "bound")], check=True)
    mounted.remove(stuck / "a" / "bound")
    assert cove_busybox("ps").err == ""
    assert not stuck.exists()
    assert (outside / "precious").read_text() == "keep me"

    # Once gone, a problem that comes back is news again.
    _mount(["-t", "tmpfs", "tmpfs"], stuck / "b", mounted)
    assert cove_busybox("ps").err.startswith(f"Warning: cannot remove {stuck}: {stuck}/b:")


def _df_rows(cove: CoveRunner) -> dict[str, DiskUsageRow]:
    engine = cove.engine()
    try:
        return {row.kind: row for row in engine.system.df().rows}
    finally:
        engine.close()


def test_system_df_counts_volumes_and_what_really_runs(cove_busybox: CoveRunner) -> None:
    mib = 1 << 20
    cove_busybox("volume", "create", "kept")
    cove_busybox("volume", "create", "idle")
    fill = "dd if=/dev/zero of=/v/f bs=1M count={} 2>/dev/null"
    cove_busybox.proc("run", "--name", "user", "-v", "kept:/v", "busybox", "sh", "-c", fill.format(3))
    cove_busybox.proc("run", "--rm", "-v", "idle:/v", "busybox", "sh", "-c", fill.format(2))
    cove_busybox("run", "-d", "--name", "sleeper", "busybox", "sleep", "300")

    rows = _df_rows(cove_busybox)
    volumes = rows["Local Volumes"]
    assert (volumes.total, volumes.active) == (2, 1)  # "kept" is used by a container (exited)
    assert 5 * mib <= volumes.size < 6 * mib
    assert 2 * mib <= volumes.reclaimable < 3 * mib  # "idle": no container uses it
    containers = rows["Containers"]
    assert (containers.total, containers.active) == (2, 1)  # "user" exited, "sleeper" runs

    cove_busybox("stop", "-t", "0", "sleeper")
    assert _df_rows(cove_busybox)["Containers"].active == 0
    info = cove_busybox("info").out
    assert "  Running: 0\n" in info and "  Stopped: 2\n" in info

    text = cove_busybox("system", "df", "-v").out
    assert "Local Volumes space usage:" in text
    found = sorted(line.split()[:2] for line in text.splitlines() if line.startswith(("kept ", "idle ")))
    assert found == [["idle", "0"], ["kept", "1"]]

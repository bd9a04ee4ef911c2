"""host/trees.py: walking and removing trees of any depth, never through a symlink."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.host.trees import Beneath, TreeChanged, remove_tree, walk
from cove.snapshots.usage import disk_usage
from tests.helpers.deep import LONG, deep_tree, remove_children


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    yield
    remove_children(tmp_path)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_tree_deeper_than_the_recursion_limit_or_path_max_is_removed(tmp_path: Path) -> None:
    deep_tree(tmp_path / "t", 1100, files=False)  # shutil.rmtree: RecursionError
    remove_tree(tmp_path / "t")
    deep_tree(tmp_path / "long", 40, LONG)  # 8,000 bytes of path
    remove_tree(tmp_path / "long")
    assert list(tmp_path.iterdir()) == []


# In a child whose descriptor limit leaves ``budget`` numbers free: remove a 50-level tree.
_BOUNDED_REMOVAL = """
import os, resource, sys
from cove.host.trees import remove_tree
budget, max_open, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + budget, hard))
try:
    remove_tree(path, max_open=max_open)
except OSError as exc:
    sys.exit(f"{exc.errno} {exc}")
"""


def _remove_within(budget: int, max_open: int, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BOUNDED_REMOVAL, str(budget), str(max_open), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_removal_keeps_to_a_bounded_number_of_descriptors(tmp_path: Path) -> None:
    # the parent, the root, three levels, and the one scandir dup of the level it lists
    deep_tree(tmp_path / "t", 50)
    done = _remove_within(6, 3, tmp_path / "t")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "t").exists()
    # The kernel holds the child to its budget: the same removal keeping 64 levels open fails.
    deep_tree(tmp_path / "t", 50)
    failed = _remove_within(6, 64, tmp_path / "t")
    assert failed.returncode != 0 and f"{errno.EMFILE} " in failed.stderr, failed.stderr


def test_symlinks_are_removed_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    tree = tmp_path / "t"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "to-dir").symlink_to(outside)
    (tree / "a" / "to-file").symlink_to(outside / "keep")
    (tree / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_text() == "x"
    link = tmp_path / "link"
    link.symlink_to(outside)
    remove_tree(link)  # the link itself goes, not what it points at
    assert not link.exists() and (outside / "keep").exists()


def test_a_missing_tree_is_nothing_to_do_unless_asked(tmp_path: Path) -> None:
    remove_tree(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        remove_tree(tmp_path / "nothing", missing_ok=False)


def test_a_file_or_a_tree_of_odd_things_is_removed(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    tree = tmp_path / "t"
    (tree / "empty").mkdir(parents=True)
    os.mkfifo(tree / "fifo")
    (tree / "read-only").write_text("x")
    (tree / "read-only").chmod(0o400)
    remove_tree(tree)
    assert list(tmp_path.iterdir()) == []


def test_walk_lists_every_level_in_order_without_following_links(tmp_path: Path) -> None:
    deep_tree(tmp_path / "t", 1100, files=False)  # os.walk: RecursionError
    (tmp_path / "t" / "b").mkdir()
    (tmp_path / "t" / "b" / "link").symlink_to("/")
    found = [e.rel for e in walk(tmp_path / "t")]
    assert found[:4] == ["b", "b/link", "d", "d/d"]
    dirs = ["/".join(["d"] * n) for n in range(1, 1101)]
    assert found == ["b", "b/link", *dirs]


def test_walk_takes_a_descend_filter_and_a_missing_root(tmp_path: Path) -> None:
    for d in ("a/x", "b/y", "c/z"):
        (tmp_path / "t" / d).mkdir(parents=True)
    found = [e.rel for e in walk(tmp_path / "t", descend=lambda e: e.name != "b")]
    assert found == ["a", "a/x", "b", "c", "c/z"]
    assert list(walk(tmp_path / "missing")) == []


def test_walk_of_a_deep_tree_stays_within_its_descriptors(tmp_path: Path) -> None:
    deep_tree(tmp_path / "t", 200)
    # a sibling after each deep branch makes every level come back to its directory
    before = open_fds()
    most = 0
    for _ in walk(tmp_path / "t", max_open=4):
        most = max(most, open_fds())
    assert most <= before + 6
    assert open_fds() == before


def test_a_directory_moved_away_during_a_walk_stops_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "t"
    (root / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    (root / "a" / "b" / "z").mkdir()
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(TreeChanged):
        for entry in walk(root, max_open=1):
            if entry.rel == "a/b/c/d/e":
                # b's descriptor is closed by now; coming back up through c's ".." would
                # lead to "elsewhere", which the walk notices instead of listing it as b
                os.rename(root / "a" / "b" / "c", tmp_path / "elsewhere" / "c")


def test_beneath_never_looks_through_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("")
    (root / "up").symlink_to(tmp_path)
    (tmp_path / "secret").write_text("s")
    with Beneath(root) as view:
        assert view.exists("etc/hosts")
        assert view.lstat("up") is not None  # the link itself
        assert view.lstat("up/secret") is None
        assert view.lstat("etc/missing") is None
        assert view.lstat("etc/hosts/below") is None
        assert view.lstat("etc/../../secret") is None and view.lstat("../secret") is None
    with Beneath(tmp_path / "missing") as view:
        assert view.lstat("x") is None


def test_beneath_looks_up_past_path_max_with_few_descriptors(tmp_path: Path) -> None:
    files = deep_tree(tmp_path / "t", 40, LONG)
    before = open_fds()
    with Beneath(tmp_path / "t") as view:
        assert all(view.exists(f) for f in files)
        assert len(files[-1]) > 4096
        assert open_fds() <= before + Beneath.CACHE + 1
    assert open_fds() == before


def test_disk_usage_of_a_tree_past_path_max_counts_hard_links_once(tmp_path: Path) -> None:
    deep_tree(tmp_path / "t", 40, LONG)
    (tmp_path / "t" / "big").write_bytes(b"x" * 10000)
    os.link(tmp_path / "t" / "big", tmp_path / "t" / "same")
    usage, size = disk_usage(tmp_path / "t")
    assert size == 10000
    assert usage >= 40 * 4096
    assert disk_usage(tmp_path / "missing") == (0, 0)
    assert disk_usage(tmp_path / "t" / "big")[1] == 10000

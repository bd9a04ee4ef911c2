"""host.inotify.TreeWatcher on real temporary directories: what changes is reported, new
directories are watched as they appear, overflow is rescanned, and the watch is bounded."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from cove.host.inotify import TreeWatcher


def changes(watcher: TreeWatcher, want: set[str], deadline: float = 5.0) -> set[str]:
    """Read until every path of ``want`` was reported (or the deadline), then drain what else is
    queued for a moment."""
    seen: set[str] = set()
    end = time.monotonic() + deadline
    while not want <= seen and time.monotonic() < end:
        seen.update(watcher.read(0.2))
    seen.update(watcher.read(0.05))
    return seen


def test_a_write_a_new_file_and_a_deletion_are_reported(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with TreeWatcher([tmp_path]) as watcher:
        (tmp_path / "new.txt").write_text("hello")
        (tmp_path / "old.txt").unlink()
        seen = changes(watcher, {str(tmp_path / "new.txt"), str(tmp_path / "old.txt")})
    assert {str(tmp_path / "new.txt"), str(tmp_path / "old.txt")} <= seen


def test_nothing_is_reported_when_nothing_changes(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    with TreeWatcher([tmp_path]) as watcher:
        assert watcher.read(0.1) == []


def test_directories_are_watched_recursively_including_new_ones(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    with TreeWatcher([tmp_path]) as watcher:
        (tmp_path / "deep" / "er" / "f").write_text("1")
        assert str(tmp_path / "deep" / "er" / "f") in changes(watcher, {str(tmp_path / "deep" / "er" / "f")})
        (tmp_path / "fresh").mkdir()
        assert str(tmp_path / "fresh") in changes(watcher, {str(tmp_path / "fresh")})
        (tmp_path / "fresh" / "inside.txt").write_text("2")
        want = str(tmp_path / "fresh" / "inside.txt")
        assert want in changes(watcher, {want})


def test_a_tree_moved_in_is_reported_file_by_file_and_then_watched(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "f").write_text("x")
    root = tmp_path / "root"
    root.mkdir()
    with TreeWatcher([root]) as watcher:
        outside.rename(root / "moved")
        want = {str(root / "moved"), str(root / "moved" / "sub" / "f")}
        assert want <= changes(watcher, want)
        (root / "moved" / "sub" / "g").write_text("y")
        assert str(root / "moved" / "sub" / "g") in changes(watcher, {str(root / "moved" / "sub" / "g")})


def test_a_directory_moved_out_is_reported_and_no_longer_watched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    with TreeWatcher([root]) as watcher:
        assert watcher.watched == 3  # the root, its directory, and the root's parent
        (root / "d").rename(tmp_path / "away")
        assert str(root / "d") in changes(watcher, {str(root / "d")})
        (tmp_path / "away" / "f").write_text("x")
        assert watcher.read(0.2) == []
        assert watcher.watched == 2


def test_changes_outside_the_roots_are_not_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with TreeWatcher([root]) as watcher:
        (tmp_path / "sibling.txt").write_text("x")  # in the watched parent, but not a root
        (root / "mine.txt").write_text("x")
        seen = changes(watcher, {str(root / "mine.txt")})
    assert seen == {str(root / "mine.txt")}


def test_a_file_root_replaced_by_rename_is_seen(tmp_path: Path) -> None:
    target = tmp_path / "requirements.txt"
    target.write_text("a")
    with TreeWatcher([target]) as watcher:
        (tmp_path / "requirements.txt.swp").write_text("b")  # an editor's temporary file
        os.replace(tmp_path / "requirements.txt.swp", target)
        seen = changes(watcher, {str(target)})
    assert seen == {str(target)}


def test_a_root_that_does_not_exist_yet_is_seen_when_it_appears(tmp_path: Path) -> None:
    root = tmp_path / "later" / "src"
    with TreeWatcher([root]) as watcher:
        (tmp_path / "later").mkdir()
        (tmp_path / "later" / "src").mkdir()
        (root / "f").write_text("x")
        assert str(root / "f") in changes(watcher, {str(root / "f")})


def test_a_deleted_and_recreated_root_is_watched_again(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    with TreeWatcher([root]) as watcher:
        root.rmdir()
        assert str(root) in changes(watcher, {str(root)})
        root.mkdir()
        changes(watcher, {str(root)})
        (root / "f").write_text("x")
        assert str(root / "f") in changes(watcher, {str(root / "f")})


def test_an_overflow_rescans_every_tree(tmp_path: Path) -> None:
    # The kernel's queue holds fs.inotify.max_queued_events (16384 by default): overflow it.
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 70000:
        pytest.skip("the kernel's inotify queue is too long to overflow quickly")
    (tmp_path / "keep.txt").write_text("x")
    with TreeWatcher([tmp_path]) as watcher:
        churn = tmp_path / "churn"
        for _ in range(limit // 2 + 10):  # each pass queues create, close_write and delete
            churn.write_text("")
            churn.unlink()
        seen = changes(watcher, {str(tmp_path / "keep.txt")})
        assert watcher.overflows >= 1
    assert str(tmp_path / "keep.txt") in seen  # reported again by the rescan, untouched


def test_the_number_of_watched_directories_is_bounded(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
    with pytest.raises(OSError, match="more than 3 directories") as caught:
        TreeWatcher([tmp_path], max_directories=3)
    assert caught.value.errno == errno.ENOSPC


def test_close_releases_the_descriptor_and_is_idempotent(tmp_path: Path) -> None:
    watcher = TreeWatcher([tmp_path])
    fd = watcher.fileno()
    watcher.close()
    watcher.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert watcher.watched == 0


def test_a_root_that_is_a_link_to_a_directory_is_watched_through_it(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with TreeWatcher([tmp_path / "link"]) as watcher:
        (tmp_path / "real" / "f").write_text("x")
        assert str(tmp_path / "link" / "f") in changes(watcher, {str(tmp_path / "link" / "f")})

"""The store's cleanup of leftovers: one that cannot go is reported once; the others go."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.cli.app import Cli
from cove.config import load_config
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.bootstrap import Engine
from cove.engine.store import Store
from cove.host.runner import RunResult
from cove.host.trees import OnFailure
from cove.images.store import ImageStore
from cove.snapshots.copy import CopySnapshotter
from cove.volumes.store import VolumeStore


class NoRunner:
    def run(self, argv: object, **kw: object) -> RunResult:
        raise AssertionError(f"nothing is run here: {argv}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "cove.toml").write_text("")
    config = load_config({"COVE_ROOT": str(root), "COVE_CONFIG": str(tmp_path / "cove.toml")})
    db = Database(root / "cove.db")
    content = ContentStore(root / "content")
    snapshotter = CopySnapshotter(root / "snapshots", db, NoRunner())
    store = Store(config, root, db, content, snapshotter, ImageStore(db, content), NoRunner(), "test")
    yield store
    db.close()


def test_a_failing_cleaner_and_a_stuck_leftover_do_not_stop_the_rest(store: Store) -> None:
    calls = []

    def broken(failed: OnFailure) -> None:
        calls.append("broken")
        raise RecursionError("maximum recursion depth exceeded")

    def stuck(failed: OnFailure) -> None:
        calls.append("stuck")
        failed(store.root / "volumes" / ".trash-x", OSError(16, "Device or resource busy", "/v/mnt"))

    store.cleaners += [broken, stuck]
    trash = store.snapshotter.root / "trash-3-abcd"
    (trash / "a").mkdir(parents=True)
    (store.tmp_dir / "leftover").mkdir(parents=True)
    store.tidy()
    assert calls == ["broken", "stuck"]
    assert not trash.exists() and list(store.tmp_dir.iterdir()) == []
    problems = [str(p) for p in store.take_problems()]
    assert problems == [
        f"cannot remove {store.root}: RecursionError: maximum recursion depth exceeded",
        f"cannot remove {store.root}/volumes/.trash-x: /v/mnt: Device or resource busy",
    ]
    assert store.take_problems() == []  # handed out once


def test_a_problem_is_reported_by_one_command_only_until_it_goes_away(store: Store) -> None:
    problem = [OSError(16, "Device or resource busy", "/x")]

    def stuck(failed: OnFailure) -> None:
        if problem:
            failed(store.root / "stuck", problem[0])

    store.cleaners.append(stuck)
    store.tidy()
    assert len(store.take_problems()) == 1
    store.tidy()  # the next command: the store remembers it was said
    store.clean_leftovers()
    assert store.take_problems() == []
    problem.clear()
    store.tidy()  # gone: forgotten, so that it is said again if it comes back
    problem.append(OSError(16, "Device or resource busy", "/x"))
    store.tidy()
    assert len(store.take_problems()) == 1


def test_the_cli_says_it_in_one_line_on_stderr(store: Store, tmp_path: Path) -> None:
    def stuck(failed: OnFailure) -> None:
        failed(store.root / "a", OSError(16, "Device or resource busy", "/a/mnt"))
        failed(store.root / "b", OSError(1, "Operation not permitted", "/b/f"))

    store.cleaners.append(stuck)
    store.tidy()
    err = io.StringIO()
    cli = Cli(stdout=io.StringIO(), stderr=err, env={})
    cli._engine = Engine(store, VolumeStore(tmp_path / "volumes", store.db))
    cli.warn_cleanup()
    cli.warn_cleanup()
    assert err.getvalue() == (
        f"Warning: cannot remove {store.root}/a: /a/mnt: Device or resource busy; and 1 more"
        " (cove tries again at each command)\n"
    )

"""Remembered context digests: reused while a file's stat (ctime included) is unchanged."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.build.context import Context
from cove.build.digestmemo import DigestMemo, forget_all
from cove.db.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "cove.db")
    yield database
    database.close()


class CountingMemo(DigestMemo):
    def __init__(self, db: Database, root: str) -> None:
        super().__init__(db, root)
        self.hashed: list[str] = []

    def remember(self, path: str, st: os.stat_result, digest: str) -> None:
        self.hashed.append(os.path.basename(path))
        super().remember(path, st, digest)


def digest(db: Database, root: Path) -> tuple[str, list[str]]:
    memo = CountingMemo(db, str(root))
    value = Context(root, memo=memo).digest([""])
    memo.save()
    return value, sorted(memo.hashed)


def test_unchanged_files_are_not_read_again(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    for name in ("a", "b", "c"):
        (root / name).write_text(name * 10)
    first, hashed = digest(db, root)
    assert hashed == ["a", "b", "c"]
    assert first == Context(root).digest([""])  # the same digest as without a memo
    again, hashed = digest(db, root)
    assert (again, hashed) == (first, [])


def test_same_size_and_mtime_is_still_read_again(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "a").write_text("aaaa")
    first, _ = digest(db, root)
    before = os.stat(root / "a")
    (root / "a").write_text("bbbb")
    os.utime(root / "a", ns=(before.st_atime_ns, before.st_mtime_ns))
    changed, hashed = digest(db, root)
    assert hashed == ["a"] and changed != first


def test_touch_rereads_but_keeps_the_digest(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "a").write_text("aaaa")
    first, _ = digest(db, root)
    os.utime(root / "a")
    again, hashed = digest(db, root)
    assert (again, hashed) == (first, ["a"])


def test_other_roots_and_forgetting(db: Database, tmp_path: Path) -> None:
    for name in ("ctx", "ctx2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a").write_text("a")
        digest(db, tmp_path / name)
    assert digest(db, tmp_path / "ctx")[1] == []
    forget_all(db)
    assert digest(db, tmp_path / "ctx")[1] == ["a"]

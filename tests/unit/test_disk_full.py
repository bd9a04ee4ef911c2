"""A full disk said as such: the first failure found behind wrappers and undo errors, SQLite's
SQLITE_FULL mapped in the database layer, and the store's reserve."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cove.db.database import Database
from cove.engine.failures import explain, no_space
from cove.errors import InternalError, NoSpace, disk_full
from cove.host.space import keep_reserve, release_reserve

ROOT = Path("/var/lib/cove-test")


def enospc(filename: str | None = None) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", filename)


def test_the_first_failure_is_found_behind_what_wrapped_it_and_what_undoing_it_hit() -> None:
    first = enospc()
    try:
        try:
            try:
                raise first
            except OSError as exc:
                raise InternalError("unpacking layer entry 'a' failed") from exc
        except InternalError:
            raise RuntimeError("database or disk is full")  # noqa: B904 - an error while undoing
    except RuntimeError as last:
        assert disk_full(last) is first
    assert disk_full(RuntimeError("x")) is None


def test_the_nearest_no_space_above_the_first_failure_names_it() -> None:
    try:
        try:
            raise enospc()
        except OSError as exc:
            raise NoSpace("layer abc", "/s/snapshots/3/fs") from exc
    except NoSpace as named:
        found = no_space(InternalError("later"), ROOT)
        assert found is None
        wrapped = RuntimeError("later")
        wrapped.__context__ = named
        assert no_space(wrapped, ROOT) is named


@pytest.mark.parametrize(
    ("path", "what"),
    [
        (f"{ROOT}/content/ingest/partial-ab12", "a download"),
        (f"{ROOT}/content/blobs/sha256/ab12", "an image blob"),
        (f"{ROOT}/snapshots/7/fs/etc/passwd", "a layer or a container's files"),
        (f"{ROOT}/cove.db-wal", "the database"),
        (f"{ROOT}/volumes/data/_data/x", "a volume"),
        ("/home/me/out.tar", "a file"),
    ],
)
def test_a_failing_path_is_named_in_the_stores_terms(path: str, what: str) -> None:
    found = explain(enospc(path), ROOT)
    assert isinstance(found, NoSpace)
    assert found.message == f"no space left on device while writing {what} ({path})"
    assert found.hint and "cove system prune -a" in found.hint


def test_quota_counts_and_other_errors_stay_what_they_are() -> None:
    assert isinstance(explain(OSError(errno.EDQUOT, "Disk quota exceeded"), ROOT), NoSpace)
    assert explain(OSError(errno.EIO, "I/O error"), ROOT) is None
    other = InternalError("x")
    assert explain(other, ROOT) is other


def test_a_full_database_says_so_and_stays_usable(tmp_path: Path) -> None:
    db = Database(tmp_path / "cove.db")
    try:
        db.execute("CREATE TABLE big (data BLOB)")
        pages = db.query_one("PRAGMA page_count")[0]  # type: ignore[index]
        db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own SQLITE_FULL
        full = pytest.raises(NoSpace, match=r"while writing the database \(.*cove.db\)")
        with full, db.transaction() as tx:
            tx.execute("INSERT INTO big VALUES (zeroblob(100000))")
        with pytest.raises(NoSpace):
            db.execute("INSERT INTO big VALUES (zeroblob(100000))")
        # Nothing is left half done, and the connection takes new transactions.
        with db.transaction() as tx:
            tx.execute("INSERT INTO big VALUES (x'00')")
        assert db.query_one("SELECT count(*) FROM big")[0] == 1  # type: ignore[index]
    finally:
        db.close()


def test_the_reserve_is_made_where_there_is_room_and_given_back(tmp_path: Path) -> None:
    reserve = tmp_path / "cove.db.reserve"
    keep_reserve(reserve)
    assert reserve.stat().st_blocks * 512 > 0
    size = reserve.stat().st_size
    keep_reserve(reserve)  # already there: left alone
    assert reserve.stat().st_size == size
    assert release_reserve(reserve) and not reserve.exists()
    assert not release_reserve(reserve)


def test_a_database_opened_when_there_is_room_keeps_a_reserve(tmp_path: Path) -> None:
    Database(tmp_path / "cove.db").close()
    assert (tmp_path / "cove.db.reserve").exists()
    assert os.stat(tmp_path / "cove.db.reserve").st_size <= 1 << 20

"""Content digests of context files, remembered between builds.

A file's digest is reused while its device, inode, size, mtime *and ctime* are all the
same. ctime is the kernel's: any write to the file (or ``touch``, or restoring an old
mtime with ``touch -d``) moves it, and no user call can set it back. So a changed file
is always read again, even with the same size and mtime, and an unchanged one never is;
a ``touch`` costs a re-read, and the digest (hence the cache key) stays the same.
"""

from __future__ import annotations

import os
import time

from cove.db.database import Database


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


class DigestMemo:
    """The digests known for files under one context root, and the ones found this build."""

    def __init__(self, db: Database, root: str) -> None:
        self.db = db
        self.prefix = root.rstrip("/") + "/"
        self._known: dict[str, tuple[str, str]] | None = None  # path -> (stamp, digest)
        self._found: list[tuple[str, str, str, float]] = []

    def _load(self) -> dict[str, tuple[str, str]]:
        if self._known is None:
            rows = self.db.query(
                "SELECT path, stamp, digest FROM file_digests WHERE path >= ? AND path < ?",
                (self.prefix, self.prefix[:-1] + "0"),  # "0" sorts right after "/"
            )
            self._known = {r["path"]: (r["stamp"], r["digest"]) for r in rows}
        return self._known

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        known = self._load().get(path)
        if known is not None and known[0] == _stamp(st):
            return known[1]
        return None

    def remember(self, path: str, st: os.stat_result, digest: str) -> None:
        stamp = _stamp(st)
        self._load()[path] = (stamp, digest)
        self._found.append((path, stamp, digest, time.time()))

    def save(self) -> None:
        """Write what this build found (one transaction)."""
        if not self._found:
            return
        with self.db.transaction() as tx:
            tx.executemany(
                "INSERT INTO file_digests(path, stamp, digest, seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET stamp = excluded.stamp, digest = excluded.digest, "
                "seen = excluded.seen",
                self._found,
            )
        self._found = []


def forget_all(db: Database) -> None:
    db.execute("DELETE FROM file_digests")

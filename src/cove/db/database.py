"""Opening the store's SQLite database: WAL, foreign keys, migrations, transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cove.db.schema import MIGRATIONS
from cove.errors import FailedPrecondition, Unavailable
from cove.host.locks import FileLock

BUSY_TIMEOUT_MS = 60_000


class Database:
    """One connection to ``cove.db``; several processes share the file safely.

    Threads of one process share the connection: a re-entrant lock makes each statement
    and each transaction run alone, so threads never interleave inside a transaction.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {path}: {exc}") from None
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # Switching to WAL ignores the busy timeout, so processes that open a new store
            # together take turns here.
            with FileLock(path.with_name(path.name + ".init.lock")).exclusive():
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                self._migrate()
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"the database {path} cannot be used now: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise Unavailable(
                f"the database {path} cannot be used: {exc}",
                hint="it may be damaged; move it aside to start an empty store",
            ) from None

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise FailedPrecondition(
                f"the store at {self.path.parent} was written by a newer cove (schema {version})",
                hint="upgrade cove to use this store",
            )
        if version == len(MIGRATIONS):
            return
        with self.transaction():
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """A single statement; outside a transaction it commits on its own. Returns rows changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def get_meta(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
            (key, value, value),
        )

    def close(self) -> None:
        self._conn.close()

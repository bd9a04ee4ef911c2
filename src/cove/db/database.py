"""Opening the store's SQLite database: WAL, foreign keys, migrations, transactions."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cove.db.schema import MIGRATIONS
from cove.errors import FULL_ERRNOS, FailedPrecondition, NoSpace, Unavailable
from cove.host.locks import FileLock
from cove.host.space import free_space, keep_reserve, release_reserve

BUSY_TIMEOUT_MS = 60_000
SQLITE_FULL = 13


SQLITE_IOERR = 10
# With less than this free, an I/O error of SQLite's is taken for a full disk (SQLite does
# not pass errno on: opening a WAL database on a full disk fails with SQLITE_IOERR_SHMSIZE).
NEARLY_FULL = 1 << 20


def is_full(exc: BaseException, path: Path | None = None) -> bool:
    """Did SQLite fail because the disk (or the database's size limit) is full?"""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return False
    if code & 0xFF == SQLITE_FULL:
        return True
    if code & 0xFF == SQLITE_IOERR and path is not None:
        with contextlib.suppress(OSError):
            return free_space(path.parent) < NEARLY_FULL
    return False


class Database:
    """One connection to ``cove.db``; several processes share the file safely.

    Threads of one process share the connection: a re-entrant lock makes each statement
    and each transaction run alone, so threads never interleave inside a transaction.

    On a filesystem too full to open it, the store's reserve (``cove.db.reserve``, see
    :mod:`cove.host.space`) is given back and the opening tried again, so that commands
    that free space still run.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._durable = False
        self._wanted_durable = False
        reserve = path.with_name(path.name + ".reserve")
        try:
            self._conn = self._open()
        except NoSpace:
            if not release_reserve(reserve):
                raise
            self._conn = self._open()
        keep_reserve(reserve)

    def _open(self) -> sqlite3.Connection:
        path = self.path
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as exc:
            if is_full(exc, path):
                raise NoSpace("the database", path) from exc
            raise Unavailable(f"cannot open the database {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Switching to WAL ignores the busy timeout, so processes that open a new store
            # together take turns here.
            with FileLock(path.with_name(path.name + ".init.lock")).exclusive():
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                self._migrate()
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error | OSError) and (
                is_full(exc, path) or getattr(exc, "errno", None) in FULL_ERRNOS
            ):
                raise NoSpace("the database", path) from exc
            if isinstance(exc, sqlite3.OperationalError):
                raise Unavailable(f"the database {path} cannot be used now: {exc}") from None
            if isinstance(exc, sqlite3.DatabaseError):
                raise Unavailable(
                    f"the database {path} cannot be used: {exc}",
                    hint="it may be damaged; move it aside to start an empty store",
                ) from None
            raise
        return conn

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

    def _full(self) -> NoSpace:
        return NoSpace("the database", self.path)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested uses join the outer one.

        Commits are atomic and survive kill -9; in WAL mode with ``synchronous = NORMAL``
        the last ones may be lost to a power loss (never half of one). A ``durable``
        transaction is on disk when it returns, and so is every one before it (the WAL
        is synced whole): for what a command promises (an image recorded) and for deletions
        that files are removed after. One fdatasync, where FULL would pay one per commit."""
        with self._lock:
            if self._depth:
                self._wanted_durable |= durable and not self._durable
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            if durable:
                self._statement("PRAGMA synchronous = FULL")  # not allowed inside a transaction
            self._durable = durable
            try:
                self._statement("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self._conn
                    self._statement("COMMIT")
                except BaseException as exc:
                    self._depth = 0
                    self._rollback()
                    if is_full(exc, self.path):
                        raise self._full() from exc
                    raise
                self._depth = 0
                if self._wanted_durable:  # a durable part joined this one: sync the WAL now
                    self._statement("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                self._wanted_durable = False
                if durable:
                    self._durable = False
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("PRAGMA synchronous = NORMAL")

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk does that): a second ROLLBACK
        # would fail and hide the error that caused it.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised is the one to report
                self._conn.execute("ROLLBACK")

    def _statement(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            if is_full(exc, self.path):
                raise self._full() from exc
            raise

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._statement(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._statement(sql, params).fetchone()
            return row

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """A single statement; outside a transaction it commits on its own. Returns rows changed."""
        with self._lock:
            return self._statement(sql, params).rowcount

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

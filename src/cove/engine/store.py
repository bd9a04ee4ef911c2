"""One cove root opened: its database, content store, snapshotter and image store.

Concurrency between cove processes on one root: every operation that writes content
that is not referenced yet (an import, a load) holds the store lock *shared*; garbage
collection and the cleanup of leftovers hold it *exclusive*. So collection never
deletes what a running import is writing, and cleanup only ever sees leftovers of
processes that are gone (flock locks die with their holder, kill -9 included).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cove.config import EngineConfig
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.failures import no_space
from cove.errors import CoveError
from cove.host.locks import FileLock
from cove.host.runner import Runner
from cove.host.seam import Host, LinuxHost
from cove.host.trees import OnFailure, remove_tree
from cove.images.store import ImageStore
from cove.snapshots.snapshotter import Snapshotter

if TYPE_CHECKING:
    from cove.images.gc import GcResult
    from cove.images.unpack import Unpacker

REPORTED_KEY = "cleanup_problems_reported"


@dataclass(frozen=True)
class CleanupProblem:
    """A leftover that the cleanup could not remove, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"cannot remove {self.path}: {self.reason}"


def _reason(exc: Exception, root: Path) -> str:
    full = no_space(exc, root)
    if full is not None:
        return full.message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, CoveError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Store:
    config: EngineConfig
    root: Path
    db: Database
    content: ContentStore
    snapshotter: Snapshotter
    images: ImageStore
    runner: Runner
    driver_reason: str
    # The host's processes, mounts and facts (a recording fake in unit tests).
    host: Host = field(default_factory=LinuxHost)
    # More cleanup for leftovers, added by the services that own them (containers, volumes).
    cleaners: list[Callable[[OnFailure], object]] = field(default_factory=list)
    # What else keeps blobs and snapshots from collection: (blob digests, chainIDs) providers.
    gc_roots: list[Callable[[], tuple[set[str], set[str]]]] = field(default_factory=list)
    # Cleanup problems not yet shown to the user (see :meth:`take_problems`).
    problems: list[CleanupProblem] = field(default_factory=list)
    _said: set[str] = field(default_factory=set)  # by this process, marker or not

    @cached_property
    def unpacker(self) -> Unpacker:
        # Imported on first use: listing images should not load tar, zstd and threads.
        from cove.images.unpack import Unpacker

        return Unpacker(
            self.content, self.snapshotter, self.images, self.root / "locks", self.config.workers()
        )

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def _lock(self) -> FileLock:
        return FileLock(self.root / "store.lock")

    def clean_leftovers(self) -> int:
        """Remove what interrupted operations left behind (caller holds the lock exclusively).

        Cleanup is housekeeping: a leftover that cannot go (a busy mount point inside it, a
        bug in one cleaner) is noted and the rest still goes; it never fails the command
        that happened to run it. Each problem is shown once (:meth:`take_problems`), and
        again only after a cleanup without it."""
        found: list[CleanupProblem] = []

        def failed(path: Path, exc: Exception) -> None:
            found.append(CleanupProblem(str(path), _reason(exc, self.root)))

        steps: list[tuple[Path, Callable[[OnFailure], object]]] = [
            (self.content.ingest_dir, self.content.clean_ingest),
            (self.snapshotter.root, self.snapshotter.clean_leftovers),
            (self.tmp_dir, self._clean_tmp),
            (self.root / "containers", self._clean_container_dirs),
            *((self.root, cleaner) for cleaner in self.cleaners),
        ]
        removed = 0
        for where, step in steps:
            try:
                count = step(failed)
            except Exception as exc:  # any failure of housekeeping is reported, not raised
                failed(where, exc)
            else:
                removed += count if isinstance(count, int) else 0
        self._note(found)
        return removed

    def _note(self, found: list[CleanupProblem]) -> None:
        """Keep for the user the problems not reported before; remember the current set in
        the store, so the next command does not say the same again."""
        current = sorted({str(p) for p in found})
        try:
            before = json.loads(self.db.get_meta(REPORTED_KEY) or "[]")
            if current != before:
                self.db.set_meta(REPORTED_KEY, json.dumps(current))
        except Exception:  # a store that cannot remember (a full disk) says it again
            before = []
        self._said &= set(current)  # gone: news again if it comes back
        new = [p for p in found if str(p) not in before and str(p) not in self._said]
        self._said.update(str(p) for p in new)
        self.problems.extend(new)

    def take_problems(self) -> list[CleanupProblem]:
        """The cleanup problems not shown yet; each is handed out once."""
        problems, self.problems = self.problems, []
        return problems

    def _clean_tmp(self, failed: OnFailure) -> int:
        removed = 0
        if self.tmp_dir.exists():
            for entry in os.scandir(self.tmp_dir):
                try:
                    remove_tree(entry.path)
                    removed += 1
                except OSError as exc:
                    failed(Path(entry.path), exc)
        return removed

    def _clean_container_dirs(self, failed: OnFailure) -> int:
        """Directories of containers whose removal was interrupted (no record, or in the trash)."""
        directory = self.root / "containers"
        if not directory.exists():
            return 0
        from cove.containers.store import ContainerStore

        known = ContainerStore(self.db).ids()
        removed = 0
        for entry in os.scandir(directory):
            if entry.name.startswith(".trash-") or (len(entry.name) == 64 and entry.name not in known):
                try:
                    remove_tree(entry.path)
                    removed += 1
                except OSError as exc:
                    failed(Path(entry.path), exc)
        return removed

    def tidy(self) -> None:
        """Clean leftovers now if no other cove process is working on this store; never
        fails (what goes wrong is in :attr:`problems`)."""
        lock = self._lock()
        try:
            if not lock.acquire(blocking=False):
                return
        except OSError as exc:
            self._note([CleanupProblem(str(lock.path), _reason(exc, self.root))])
            return
        try:
            self.clean_leftovers()
        finally:
            lock.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store for an operation that adds content."""
        lock = self._lock()
        with lock.shared():
            yield

    @contextmanager
    def collecting(self, *, partials: bool = False) -> Iterator[int]:
        """Hold the store alone, for removals and garbage collection; with ``partials``
        (the prunes), unfinished downloads no pull is writing go first (they need no
        database work, so on a full disk they make room for what follows). Yields the
        bytes those freed."""
        lock = self._lock()
        with lock.exclusive():
            freed = self.content.reclaim_partials() if partials else 0
            self.clean_leftovers()
            yield freed

    def collect_garbage(self) -> GcResult:
        """Remove unused blobs and snapshots (caller holds the store via :meth:`collecting`)."""
        from cove.containers.store import ContainerStore
        from cove.images import gc

        blobs: set[str] = set()
        chains: set[str] = ContainerStore(self.db).snapshot_keys()  # the containers' own layers
        for provider in self.gc_roots:
            more_blobs, more_chains = provider()
            blobs |= more_blobs
            chains |= more_chains
        return gc.collect(self.content, self.images, self.snapshotter, (blobs, chains))

    def close(self) -> None:
        self.db.close()

"""One cove root opened: its database, content store, snapshotter and image store.

Concurrency between cove processes on one root: every operation that writes content
that is not referenced yet (an import, a load) holds the store lock *shared*; garbage
collection and the cleanup of leftovers hold it *exclusive*. So collection never
deletes what a running import is writing, and cleanup only ever sees leftovers of
processes that are gone (flock locks die with their holder, kill -9 included).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cove.config import EngineConfig
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.host.locks import FileLock
from cove.host.runner import Runner
from cove.images.store import ImageStore
from cove.snapshots.snapshotter import Snapshotter

if TYPE_CHECKING:
    from cove.images.gc import GcResult
    from cove.images.unpack import Unpacker


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
    # More cleanup for leftovers, added by the services that own them (containers, volumes).
    cleaners: list[Callable[[], object]] = field(default_factory=list)
    # What else keeps blobs and snapshots from collection: (blob digests, chainIDs) providers.
    gc_roots: list[Callable[[], tuple[set[str], set[str]]]] = field(default_factory=list)

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
        """Remove what interrupted operations left behind (caller holds the lock exclusively)."""
        removed = self.content.clean_ingest() + self.snapshotter.clean_leftovers()
        if self.tmp_dir.exists():
            for entry in os.scandir(self.tmp_dir):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
        removed += self._clean_container_dirs()
        for cleaner in self.cleaners:
            cleaner()
        return removed

    def _clean_container_dirs(self) -> int:
        """Directories of containers whose removal was interrupted (no record, or in the trash)."""
        directory = self.root / "containers"
        if not directory.exists():
            return 0
        known = {r["id"] for r in self.db.query("SELECT id FROM containers")}
        removed = 0
        for entry in directory.iterdir():
            if entry.name.startswith(".trash-") or (len(entry.name) == 64 and entry.name not in known):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def tidy(self) -> None:
        """Clean leftovers now if no other cove process is working on this store."""
        lock = self._lock()
        if lock.acquire(blocking=False):
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
    def collecting(self) -> Iterator[None]:
        """Hold the store alone, for removals and garbage collection."""
        lock = self._lock()
        with lock.exclusive():
            self.clean_leftovers()
            yield

    def collect_garbage(self) -> GcResult:
        """Remove unused blobs and snapshots (caller holds the store via :meth:`collecting`)."""
        from cove.images import gc

        blobs: set[str] = set()
        chains: set[str] = set()
        for provider in self.gc_roots:
            more_blobs, more_chains = provider()
            blobs |= more_blobs
            chains |= more_chains
        return gc.collect(self.content, self.images, self.snapshotter, (blobs, chains))

    def close(self) -> None:
        self.db.close()

"""The snapshotter conformance suite over the copy snapshotter, without root: a copy's
view is a single bind mount, whose source is looked at directly (the integration tier
mounts it for real, and runs the suite over overlayfs too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.db.database import Database
from cove.host.runner import SubprocessRunner
from cove.snapshots.copy import CopySnapshotter
from tests.helpers.snapshot_suite import SnapshotterConformance, Subject


@pytest.fixture
def subject(tmp_path: Path) -> Iterator[Subject]:
    db = Database(tmp_path / "cove.db")
    try:
        snapshotter = CopySnapshotter(tmp_path / "snapshots", db, SubprocessRunner())
        yield Subject(snapshotter, db, tmp_path, real_mounts=False)
    finally:
        db.close()


class TestCopySnapshotter(SnapshotterConformance):
    pass

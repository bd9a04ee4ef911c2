"""The snapshotter conformance suite over both implementations, with real mounts (root;
overlayfs where the host can mount it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.db.database import Database
from cove.host.mounts import unmount_all_under
from cove.host.overlay import probe_overlay
from cove.host.runner import SubprocessRunner
from cove.snapshots.copy import CopySnapshotter
from cove.snapshots.overlay import OverlaySnapshotter
from cove.snapshots.snapshotter import COPY, OVERLAY
from tests.conftest import need, need_root
from tests.helpers.snapshot_suite import SnapshotterConformance, Subject

IMPLEMENTATIONS = {OVERLAY: OverlaySnapshotter, COPY: CopySnapshotter}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    need_root()
    if request.param == OVERLAY:
        works, why = probe_overlay(tmp_path / "probe")
        need(works, f"overlayfs cannot be mounted here: {why}")
    db = Database(tmp_path / "cove.db")
    try:
        snapshotter = IMPLEMENTATIONS[request.param](tmp_path / "snapshots", db, SubprocessRunner())
        yield Subject(snapshotter, db, tmp_path, real_mounts=True)
    finally:
        unmount_all_under(tmp_path)  # a failed test may have left its view mounted
        db.close()


class TestSnapshotters(SnapshotterConformance):
    pass

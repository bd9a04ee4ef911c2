"""The overlay snapshotter's mounts as data, without mounting anything (the conformance
suite mounts them for real in the integration tier)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.db.database import Database
from cove.errors import InvalidArgument
from cove.oci.mount import Mount
from cove.snapshots.overlay import OverlaySnapshotter
from tests.helpers.fakehost import RecordingRunner


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[OverlaySnapshotter]:
    db = Database(tmp_path / "cove.db")
    try:
        yield OverlaySnapshotter(tmp_path / "snapshots", db, RecordingRunner())
    finally:
        db.close()


def layers(s: OverlaySnapshotter, count: int) -> list[str]:
    keys: list[str] = []
    for i in range(count):
        ext = s.begin(keys[-1] if keys else None)
        ext.commit(f"layer-{i}", keys[-1] if keys else None, size=0, usage=0)
        keys.append(f"layer-{i}")
    return keys


def test_a_view_lists_the_layers_top_first_and_a_single_layer_is_a_bind(overlay: OverlaySnapshotter) -> None:
    keys = layers(overlay, 3)
    fs = [str(overlay.fs(overlay.require(k).id)) for k in keys]
    assert overlay.mounts(keys[0]) == [Mount("bind", fs[0], ("rbind", "ro"))]
    assert overlay.mounts(keys[2]) == [Mount("overlay", "overlay", (f"lowerdir={fs[2]}:{fs[1]}:{fs[0]}",))]


def test_a_writable_snapshot_is_an_upper_directory_with_its_work_directory(
    overlay: OverlaySnapshotter,
) -> None:
    keys = layers(overlay, 2)
    fs = [str(overlay.fs(overlay.require(k).id)) for k in keys]
    mounts = overlay.prepare("c1", keys[1])
    top = overlay.require("c1").id
    assert mounts == [
        Mount(
            "overlay",
            "overlay",
            (
                f"lowerdir={fs[1]}:{fs[0]}",
                f"upperdir={overlay.fs(top)}",
                f"workdir={overlay.dir(top) / 'work'}",
            ),
        )
    ]
    assert (overlay.dir(top) / "work").is_dir()
    assert overlay.prepare("c2", None) == [
        Mount("bind", str(overlay.fs(overlay.require("c2").id)), ("rbind", "rw"))
    ]
    overlay.commit_active("c1", "built")
    assert not (overlay.dir(top) / "work").exists()  # its scratch space goes with the commit


def test_a_layer_is_begun_before_its_parent_is_committed(overlay: OverlaySnapshotter) -> None:
    child = overlay.begin("not-yet")  # unpacked side by side: the parent is named at commit
    parent = overlay.begin(None)
    parent.commit("not-yet", None, size=0, usage=0)
    assert child.commit("child", "not-yet", size=0, usage=0).parent_id == overlay.require("not-yet").id


def test_more_layers_than_one_mount_takes_are_refused(overlay: OverlaySnapshotter) -> None:
    keys = layers(overlay, 300)
    with pytest.raises(InvalidArgument, match="too many layers"):
        overlay.mounts(keys[-1])
    with pytest.raises(InvalidArgument, match="too many layers"):
        overlay.prepare("c1", keys[-1])
    assert overlay.get("c1") is None  # nothing half-made stays

"""Layers shared by chainID, seen merged through overlayfs (or copies), never changed by containers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cove.host.mounts import mount_all, unmount
from cove.oci.digest import chain_ids
from tests.conftest import CoveRunner, need_tool
from tests.helpers import tars as t
from tests.helpers.images import build_image, write_oci_layout
from tests.helpers.trees import describe

DRIVERS = ["overlayfs", "copy"]

BASE = t.make_tar(
    [
        t.directory("etc"),
        t.file("etc/keep", b"keep"),
        t.file("etc/gone", b"gone"),
        t.directory("var/cache"),
        t.file("var/cache/old1", b"1"),
        t.file("var/cache/old2", b"2"),
        t.file("bin/tool", b"v1", mode=0o755),
    ]
)
MIDDLE = t.make_tar(
    [
        t.whiteout("etc/gone"),
        t.directory("var/cache"),
        t.opaque("var/cache"),
        t.file("var/cache/new", b"n"),
        t.file("bin/tool", b"v2", mode=0o755),
    ]
)
TOP = t.make_tar([t.file("etc/added", b"a"), t.whiteout("bin")])


def _merged_view(cove: CoveRunner, image: str, target: Path, mounted: list[Path]) -> dict[str, tuple]:
    """Mount a read-only view of the image's top layer and describe it."""
    engine = cove.engine()
    try:
        record = engine.store.images.resolve(image)
        top = chain_ids(engine.store.images.config(record).diff_ids)[-1]
        mounts = engine.store.snapshotter.mounts(top)
    finally:
        engine.close()
    target.mkdir(exist_ok=True)
    mount_all(mounts, target)
    mounted.append(target)
    try:
        return describe(target)
    finally:
        unmount(target)
        mounted.remove(target)


@pytest.mark.parametrize("driver", DRIVERS)
def test_whiteouts_and_opaque_dirs_across_layers(
    cove: CoveRunner, tmp_path: Path, mounted: list[Path], driver: str
) -> None:
    cove.with_driver(driver)
    image = build_image([BASE, MIDDLE, TOP], gzip_layers=True)
    write_oci_layout(tmp_path / "layout", [(image, "example.com/layers:1")])
    assert cove("load", "-i", str(tmp_path / "layout")).out == "Loaded image: example.com/layers:1\n"
    view = _merged_view(cove, "example.com/layers:1", tmp_path / "view", mounted)
    assert sorted(view) == ["etc", "etc/added", "etc/keep", "var", "var/cache", "var/cache/new"]
    assert cove("info", "--format", "{{.Driver}}").out.strip() == driver


@pytest.mark.parametrize("driver", DRIVERS)
def test_layers_are_unpacked_once_and_shared(cove: CoveRunner, tmp_path: Path, driver: str) -> None:
    cove.with_driver(driver)
    first = build_image([BASE, MIDDLE])
    second = build_image([BASE, MIDDLE, TOP], config={"Cmd": ["other"]})
    write_oci_layout(tmp_path / "a", [(first, "example.com/first:1")])
    write_oci_layout(tmp_path / "b", [(second, "example.com/second:1")])
    cove("load", "-i", str(tmp_path / "a"))
    cove("load", "-i", str(tmp_path / "b"))
    engine = cove.engine()
    try:
        assert len(engine.store.snapshotter.all()) == 3
    finally:
        engine.close()
    cove("rmi", "example.com/second:1")
    engine = cove.engine()
    try:
        assert len(engine.store.snapshotter.all()) == 2  # TOP went with the only image using it
    finally:
        engine.close()


CONTAINER_SCRIPT = """
set -e
echo rewritten > /etc/passwd
rm -rf /etc/group /bin/ls /usr
rm /bin/cat && echo replaced > /bin/cat
chmod 700 /bin
touch -d 2001-01-01 /bin/busybox
mkdir /data && echo new > /data/file
"""


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.slow
def test_a_container_never_changes_its_image(
    cove: CoveRunner, tmp_path: Path, mounted: list[Path], driver: str
) -> None:
    need_tool("unshare")
    cove.with_driver(driver)
    cove("image", "bootstrap", "busybox", "-q")
    engine = cove.engine()
    try:
        record = engine.store.images.resolve("busybox")
        config = engine.store.images.config(record)
        top = chain_ids(config.diff_ids)[-1]
        layer_dirs = [engine.store.snapshotter.fs(s.id) for s in engine.store.snapshotter.chain(top)]
        before = [describe(d, times=True) for d in layer_dirs]
        mounts = engine.store.snapshotter.prepare("container-test", top)
        fresh_mounts = engine.store.snapshotter.prepare("container-fresh", top)
    finally:
        engine.close()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mount_all(mounts, rootfs)
    mounted.append(rootfs)
    # A process in its own mount and PID namespaces, chrooted into the container's rootfs.
    subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "chroot", str(rootfs), "/bin/sh", "-c", CONTAINER_SCRIPT],
        check=True,
    )
    assert (rootfs / "etc/passwd").read_text() == "rewritten\n"
    assert not (rootfs / "etc/group").exists() and not (rootfs / "bin/ls").exists()
    assert (rootfs / "bin/cat").read_text() == "replaced\n" and (rootfs / "data/file").read_text() == "new\n"
    unmount(rootfs)
    mounted.remove(rootfs)

    assert [describe(d, times=True) for d in layer_dirs] == before
    # A second container from the image sees it as it was.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    mount_all(fresh_mounts, fresh)
    mounted.append(fresh)
    try:
        assert (fresh / "etc/passwd").read_text().startswith("root:x:0:0")
        assert (fresh / "etc/group").exists() and (fresh / "bin/ls").exists()
        assert (fresh / "bin/cat").read_bytes() == Path("/bin/busybox").read_bytes()
    finally:
        unmount(fresh)
        mounted.remove(fresh)
    # And its content still verifies against its digests.
    inspect = cove("image", "inspect", "--format", "{{.Id}}", "busybox").out.strip()
    assert inspect == record.id
    cove("save", "busybox", "-o", str(tmp_path / "after.tar"))
    cove("load", "-i", str(tmp_path / "after.tar"))
    assert cove("images", "-q", "--no-trunc").out.strip() == record.id

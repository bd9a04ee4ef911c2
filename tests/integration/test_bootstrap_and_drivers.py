"""Built-in images (busybox, Debian) and the storage drivers: auto choice, fallback, switching."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cove.host.mounts import mount_all, unmount
from cove.oci.digest import chain_ids
from tests.conftest import CACHE, CoveRunner, _new_runner, need_tool


def test_busybox_is_reproducible(cove: CoveRunner, tmp_path: Path) -> None:
    first = cove("image", "bootstrap", "busybox", "-q").out.strip()
    other = _new_runner(tmp_path / "other")
    assert other("image", "bootstrap", "busybox", "-q").out.strip() == first
    # bootstrapping again in the same store changes nothing
    assert cove("image", "bootstrap", "busybox", "-q").out.strip() == first
    assert cove("images", "-q", "--no-trunc").out.strip() == first


def test_busybox_image_contents(cove_busybox: CoveRunner, tmp_path: Path, mounted: list[Path]) -> None:
    engine = cove_busybox.engine()
    try:
        record = engine.store.images.resolve("busybox")
        top = chain_ids(engine.store.images.config(record).diff_ids)[-1]
        mounts = engine.store.snapshotter.mounts(top)
    finally:
        engine.close()
    view = tmp_path / "view"
    view.mkdir()
    mount_all(mounts, view)
    mounted.append(view)
    try:
        # every applet is a hard link to the one binary
        assert (view / "bin/sh").stat().st_ino == (view / "bin/busybox").stat().st_ino
        assert (view / "tmp").stat().st_mode & 0o7777 == 0o1777
        assert "root:x:0:0" in (view / "etc/passwd").read_text()
        script = "echo $((6*7)); ls /bin /sbin /usr/bin /usr/sbin | wc -l; busybox --list | wc -l"
        out = subprocess.run(
            ["chroot", str(view), "/bin/sh", "-c", script], capture_output=True, check=True, text=True
        ).stdout.split()
        assert out[0] == "42" and int(out[1]) >= int(out[2]) > 200
    finally:
        unmount(view)
        mounted.remove(view)


def test_busybox_must_be_static(cove: CoveRunner) -> None:
    result = cove("image", "bootstrap", "busybox", "--busybox", "/bin/ls", check=False)
    assert result.rc == 1
    assert "not statically linked" in result.err and "busybox-static" in result.err


@pytest.mark.slow
def test_debian_bootstrap(
    cove: CoveRunner, debian_tarball: Path, tmp_path: Path, mounted: list[Path]
) -> None:
    # The tarball is cached: this takes cove's mmdebstrap path without running it again.
    cove("image", "bootstrap", "debian:bookworm", "--cache-dir", str(CACHE), "-q")
    rows = cove("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").out.split()
    assert rows[0] == "debian:bookworm" and rows[1].endswith("MB")
    item = cove("image", "inspect", "--format", "{{json .Config.Cmd}} {{.Comment}}", "debian:bookworm").out
    assert item.startswith('["bash"] mmdebstrap --variant=minbase bookworm')
    engine = cove.engine()
    try:
        record = engine.store.images.resolve("debian:bookworm")
        mounts = engine.store.snapshotter.prepare(
            "ctr", chain_ids(engine.store.images.config(record).diff_ids)[-1]
        )
    finally:
        engine.close()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mount_all(mounts, rootfs)
    mounted.append(rootfs)
    try:
        script = "cat /etc/debian_version; dpkg -l | wc -l"
        out = subprocess.run(
            ["chroot", str(rootfs), "/bin/bash", "-c", script], capture_output=True, check=True, text=True
        ).stdout.split()
        assert out[0].startswith("12.") and int(out[1]) > 50
    finally:
        unmount(rootfs)
        mounted.remove(rootfs)


def test_debian_bootstrap_rejects_unknown_suites(cove: CoveRunner) -> None:
    result = cove("image", "bootstrap", "debian:hamm", check=False)
    assert result.rc == 1 and "unknown Debian suite 'hamm'" in result.err


def test_auto_driver_is_overlayfs_here(cove: CoveRunner) -> None:
    assert cove("info", "--format", "{{.Driver}}").out == "overlayfs\n"


def test_auto_falls_back_to_copy_where_overlayfs_cannot_work(tmp_path: Path, mounted: list[Path]) -> None:
    """A root on an overlayfs mount cannot hold overlay upper directories: cove copies instead."""
    need_tool("mount")
    base = tmp_path / "ovl"
    dirs = {n: base / n for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        d.mkdir(parents=True)
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}",
            str(dirs["merged"]),
        ],
        check=True,
    )
    mounted.append(dirs["merged"])
    cove = _new_runner(dirs["merged"] / "cove")
    info = cove("info").out
    assert "Storage Driver: copy" in info
    assert "Why not overlayfs: cannot" in info
    cove("image", "bootstrap", "busybox", "-q")
    cove("tag", "busybox", "again")
    assert len(cove("images", "-q").out.split()) == 2
    cove("rmi", "busybox", "again")
    assert cove("images", "-q").out == ""


def test_a_store_keeps_its_driver(cove: CoveRunner) -> None:
    cove("image", "bootstrap", "busybox", "-q")
    cove.with_driver("copy")
    result = cove("images", check=False)
    assert result.rc == 1
    assert "uses the overlayfs storage driver, not copy" in result.err
    cove.with_driver("overlayfs")
    assert cove("images", "-q").out != ""


@pytest.mark.parametrize("driver", ["copy"])
def test_empty_store_may_change_driver(cove: CoveRunner, driver: str) -> None:
    assert cove("info", "--format", "{{.Driver}}").out == "overlayfs\n"
    cove.with_driver(driver)
    assert cove("info", "--format", "{{.Driver}}").out == f"{driver}\n"

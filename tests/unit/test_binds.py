"""Bind sources and mount points: Docker's rules for what is missing and what is in the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cove.containers.binds import check_mount_point, source_is_dir
from cove.containers.model import BIND, MountSpec
from cove.errors import InvalidArgument


def test_a_missing_source_is_a_directory_for_v_and_an_error_for_mount(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b"
    with pytest.raises(InvalidArgument, match=f"bind source path does not exist: {missing}"):
        source_is_dir(MountSpec(BIND, "/x", str(missing)))
    assert not missing.exists()
    assert source_is_dir(MountSpec(BIND, "/x", str(missing), create_host_path=True))
    assert missing.is_dir()


def test_a_file_source_is_kept_a_file_through_links(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    (tmp_path / "link").symlink_to("f")
    for name in ("f", "link"):
        assert not source_is_dir(MountSpec(BIND, "/x", str(tmp_path / name), create_host_path=True))
    assert (tmp_path / "f").is_file()
    (tmp_path / "dangling").symlink_to("nowhere")
    with pytest.raises(InvalidArgument, match="does not exist"):
        source_is_dir(MountSpec(BIND, "/x", str(tmp_path / "dangling"), create_host_path=True))


def test_the_mount_point_must_be_of_the_sources_kind(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    directory, file = os.stat(tmp_path), os.stat(tmp_path / "file")
    mount = MountSpec(BIND, "/etc", "/src")
    check_mount_point(mount, True, directory)
    check_mount_point(mount, False, file)
    check_mount_point(mount, False, None)  # nothing there: the runtime makes it
    with pytest.raises(InvalidArgument, match="cannot mount the file /src onto /etc: /etc is a directory"):
        check_mount_point(mount, False, directory)
    with pytest.raises(InvalidArgument, match="cannot mount the directory /src onto /etc: /etc is a file"):
        check_mount_point(mount, True, file)

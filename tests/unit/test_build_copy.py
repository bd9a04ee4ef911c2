"""COPY's layer: where sources land (Docker's directory rules), owners, modes, .dockerignore."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from cove.build.context import Context
from cove.build.copy import (
    CopyOptions,
    destinations,
    is_archive,
    parse_chmod,
    parse_numeric_chown,
    write_layer,
)
from cove.errors import InvalidArgument


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    for name, text in {"app/main.py": "main\n", "app/lib/util.py": "util\n", "a.txt": "a\n", "b.txt": "b\n",
                       "app/skip.log": "log\n", ".dockerignore": "**/*.log\n"}.items():  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "app/main.py").chmod(0o755)
    (tmp_path / "app/link").symlink_to("main.py")
    return Context(tmp_path)


def layer(
    ctx: Context, sources: list[str], dest: str, workdir: str = "/", **options: int
) -> dict[str, tarfile.TarInfo]:
    buf = io.BytesIO()
    write_layer(ctx, destinations(ctx, sources, dest, workdir), CopyOptions(**options), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_a_directory_copies_its_contents(ctx: Context) -> None:
    entries = layer(ctx, ["app"], "/srv/app")
    assert set(entries) == {
        "srv",
        "srv/app",
        "srv/app/main.py",
        "srv/app/lib",
        "srv/app/lib/util.py",
        "srv/app/link",
    }
    assert entries["srv/app/main.py"].mode == 0o755 and entries["srv/app/link"].linkname == "main.py"
    assert entries["srv"].mode == 0o755 and entries["srv/app/main.py"].uid == 0  # parents made, root owns


def test_files_to_a_name_or_into_a_directory(ctx: Context) -> None:
    assert set(layer(ctx, ["a.txt"], "/etc/renamed")) == {"etc", "etc/renamed"}
    assert set(layer(ctx, ["a.txt"], "/etc/")) == {"etc", "etc/a.txt"}
    assert set(layer(ctx, ["a.txt", "b.txt"], "/data/")) == {"data", "data/a.txt", "data/b.txt"}
    assert set(layer(ctx, ["a.txt"], "rel/", workdir="/work")) == {"work", "work/rel", "work/rel/a.txt"}
    with pytest.raises(InvalidArgument, match="must end with /"):
        layer(ctx, ["a.txt", "b.txt"], "/data")


def test_owner_and_mode(ctx: Context) -> None:
    entries = layer(ctx, ["app"], "/o", uid=1000, gid=1001, mode=0o640)
    assert (entries["o/main.py"].uid, entries["o/main.py"].gid, entries["o/main.py"].mode) == (
        1000,
        1001,
        0o640,
    )
    assert parse_numeric_chown("1000") == (1000, 1000) and parse_numeric_chown("1:2") == (1, 2)
    assert parse_numeric_chown("app:app") is None
    assert parse_chmod("0755") == 0o755
    with pytest.raises(InvalidArgument):
        parse_chmod("rwx")


def _tar(path: Path, files: dict[str, bytes], mode: str) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.mode = len(data), 7, 0o640
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_archives_are_told_by_content(tmp_path: Path, mode: str) -> None:
    archive = _tar(tmp_path / "anything.bin", {"x": b"1"}, mode)
    assert is_archive(archive)


def test_other_files_are_not_archives(tmp_path: Path) -> None:
    (tmp_path / "plain.tar.gz").write_text("not really gzip\n")
    (tmp_path / "fake.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 40)  # gzip magic, no tar inside
    assert not is_archive(tmp_path / "plain.tar.gz")
    assert not is_archive(tmp_path / "fake.gz")
    assert not is_archive(tmp_path / "missing")


def test_an_archive_unpacks_under_its_destination(ctx: Context, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tgz", {"pkg/one": b"1", "../escape": b"x", "/abs": b"2"}, "w:gz")
    buf = io.BytesIO()
    write_layer(ctx, [], CopyOptions(), buf, [(archive.name, "/opt/x")])  # (the archive is in the context)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        entries = {m.name: m for m in tar.getmembers()}
    assert set(entries) == {"opt", "opt/x", "opt/x/pkg/one", "opt/x/abs"}  # nothing lands outside
    assert entries["opt/x/pkg/one"].uid == 7 and entries["opt/x/pkg/one"].mode == 0o640  # as archived


def test_existing_parent_directories_keep_their_owner_and_mode(ctx: Context, tmp_path: Path) -> None:
    home = tmp_path / "image-home"
    home.mkdir(mode=0o700)
    found = os.lstat(home)
    buf = io.BytesIO()
    write_layer(
        ctx,
        destinations(ctx, ["a.txt"], "/home/app/a.txt", "/"),
        CopyOptions(),
        buf,
        existing=lambda path: found if path == "home/app" else None,
    )
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        entries = {m.name: m for m in tar.getmembers()}
    assert entries["home/app"].mode == 0o700 and entries["home/app"].uid == found.st_uid
    assert entries["home"].mode == 0o755  # a missing parent is made

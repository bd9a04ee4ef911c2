"""COPY's layer: where sources land (Docker's directory rules), owners, modes, .dockerignore."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from cove.build.context import Context
from cove.build.copy import CopyOptions, destinations, parse_chmod, parse_numeric_chown, write_layer
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

"""Malformed --format templates fail before any output, in Docker's words and with its exit
codes; a docker-archive with an invalid RepoTag loads nothing."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers import tars as t
from tests.helpers.images import BuiltImage, build_image, digest

UNCLOSED = "Error: template parsing error: template: :1: unclosed action"


@pytest.mark.parametrize(
    "args",
    [
        ("ps", "-a", "--format", "{{.Names"),
        ("ps", "-a", "--format", "table {{.ID}}\t{{.Names"),
        ("images", "--format", "{{.Repository"),
        ("volume", "ls", "--format", "{{.Name"),
        ("network", "ls", "--format", "{{.Name"),
        ("system", "df", "--format", "{{.Type"),
    ],
)
def test_a_list_format_left_open_prints_nothing(cove_busybox: CoveRunner, args: tuple[str, ...]) -> None:
    cove = cove_busybox
    cove("create", "--name", "one", "busybox", "true")
    result = cove(*args, check=False)
    assert result.rc == 1, result
    assert result.out == ""
    assert result.err.startswith(UNCLOSED), result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("inspect", "--format", "{{.Id", "busybox"),
        ("image", "inspect", "--format", "{{.Id", "busybox"),
        ("container", "inspect", "--format", "{{.Id", "one"),
        ("volume", "inspect", "--format", "{{.Name", "vol"),
        ("network", "inspect", "--format", "{{.Name", "bridge"),
        ("info", "--format", "{{.Driver"),
        ("version", "--format", "{{.Client"),
    ],
)
def test_an_inspect_format_left_open_exits_64(cove_busybox: CoveRunner, args: tuple[str, ...]) -> None:
    cove = cove_busybox
    cove("create", "--name", "one", "busybox", "true")
    cove("volume", "create", "vol")
    result = cove(*args, check=False)
    assert result.rc == 64, result
    assert result.out == "" and result.err.startswith(UNCLOSED), result


def test_the_template_is_parsed_before_anything_is_looked_up(cove: CoveRunner) -> None:
    # Docker: the template's error, not "No such object", and nothing on stdout.
    result = cove("inspect", "--format", "{{if .Id}}x", "nosuch", check=False)
    assert result.rc == 64
    assert result.err.startswith("Error: template parsing error: template: :1: unexpected EOF")
    assert "No such object" not in result.err and result.out == ""
    # Right ones still work; a }} inside a string does not end the action.
    assert cove("version", "--format", '{{printf "%s}}" .Client.Version}}').out.endswith("}}\n")


def _docker_archive(path: Path, entries: list[tuple[BuiltImage, list[str]]]) -> None:
    """A docker-archive (Docker 25's layout, blobs by digest) with one manifest.json entry each."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        names: set[str] = set()

        def blob(data: bytes) -> str:
            name = f"blobs/sha256/{digest(data)[7:]}"
            if name not in names:
                names.add(name)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            return name

        manifest = [
            {"Config": blob(image.config), "RepoTags": tags, "Layers": [blob(b) for b in image.layers]}
            for image, tags in entries
        ]
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("Bad/Name:1", "must be lowercase"),
        ("example.com/ok@sha256:" + "a" * 64, "it must be NAME:TAG"),
        ("example.com/notag", "it must be NAME:TAG"),
        ("example.com/x:bad tag", "invalid RepoTag"),
        (7, "not a string"),
    ],
)
def test_load_refuses_an_invalid_repo_tag_and_loads_nothing(
    cove: CoveRunner, tmp_path: Path, tag: object, why: str
) -> None:
    good = build_image([t.make_tar([t.file("good", b"1")])])
    bad = build_image([t.make_tar([t.file("bad", b"2")])])
    archive = tmp_path / "images.tar"
    _docker_archive(archive, [(good, ["example.com/good:1"]), (bad, ["example.com/bad:1", tag])])  # type: ignore[list-item]
    result = cove("load", "-i", str(archive), check=False)
    assert result.rc == 1, result
    assert "manifest.json entry 1: invalid RepoTag" in result.err and why in result.err, result.err
    assert repr(tag) in result.err and result.out == ""
    assert cove("images", "-aq").out == ""
    engine = cove.engine()
    try:
        assert engine.store.snapshotter.all() == []
    finally:
        engine.close()
    # Fixed, it loads both.
    _docker_archive(archive, [(good, ["example.com/good:1"]), (bad, ["example.com/bad:1"])])
    loaded = cove("load", "-i", str(archive)).out
    assert loaded == "Loaded image: example.com/good:1\nLoaded image: example.com/bad:1\n"

"""save and load: round trips, and interop with skopeo and umoci (not only cove with itself)."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from cove.oci.platform import host_platform
from tests.conftest import CoveRunner, need_tool
from tests.helpers import tars as t
from tests.helpers.images import (
    build_image,
    tar_directory,
    write_legacy_docker_archive,
    write_multiarch_layout,
    write_oci_layout,
)
from tests.helpers.trees import describe

FORMATS = ["docker-archive", "oci-archive", "oci-dir"]


def ids(cove: CoveRunner) -> list[str]:
    return sorted(cove("images", "-q", "--no-trunc").out.split())


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_every_format(cove_busybox: CoveRunner, tmp_path: Path, fmt: str) -> None:
    cove = cove_busybox
    cove("tag", "busybox", "example.com/tools/bb:2")
    before = ids(cove)
    target = tmp_path / "out"
    cove("save", "--format", fmt, "-o", str(target), "busybox", "example.com/tools/bb:2")
    cove("rmi", "busybox", "example.com/tools/bb:2")
    assert ids(cove) == []
    out = cove("load", "-i", str(target)).out.splitlines()
    assert sorted(out) == ["Loaded image: busybox:latest", "Loaded image: example.com/tools/bb:2"]
    assert ids(cove) == before


def test_saving_by_id_writes_no_names(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    image_id = ids(cove)[0]
    cove("save", image_id[7:19], "-o", str(tmp_path / "x.tar"))
    with tarfile.open(tmp_path / "x.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] is None
    cove("rmi", "busybox")
    assert cove("load", "-i", str(tmp_path / "x.tar")).out == f"Loaded image ID: {image_id}\n"


def test_skopeo_reads_what_cove_saves(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    skopeo = need_tool("skopeo")
    cove = cove_busybox
    image_id = ids(cove)[0]
    cove("save", "busybox", "-o", str(tmp_path / "d.tar"))
    cove("save", "busybox", "--format", "oci-archive", "-o", str(tmp_path / "o.tar"))
    docker = json.loads(
        subprocess.run(
            [skopeo, "inspect", f"docker-archive:{tmp_path}/d.tar"], capture_output=True, check=True
        ).stdout
    )
    assert docker["Architecture"] == host_platform().architecture
    assert docker["Env"] and docker["Os"] == "linux"
    config = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"oci-archive:{tmp_path}/o.tar"], capture_output=True, check=True
        ).stdout
    )
    assert config["config"]["Cmd"] == ["sh"]
    # skopeo copies both into an OCI layout; digests are verified on the way.
    subprocess.run(
        [skopeo, "copy", "-q", f"docker-archive:{tmp_path}/d.tar", f"oci:{tmp_path}/copy:bb"], check=True
    )
    subprocess.run(
        [skopeo, "copy", "-q", f"oci-archive:{tmp_path}/o.tar", f"oci:{tmp_path}/copy2:bb"], check=True
    )
    # The OCI archive keeps the blobs as stored: skopeo sees the same config, so the same image ID.
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", f"oci:{tmp_path}/copy2:bb"], capture_output=True, check=True
    )
    assert json.loads(raw.stdout)["config"]["digest"] == image_id


def test_cove_loads_what_skopeo_writes(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    skopeo = need_tool("skopeo")
    cove = cove_busybox
    cove("save", "busybox", "-o", str(tmp_path / "d.tar"))
    cove("rmi", "busybox")
    for dest in (
        f"oci:{tmp_path}/layout:example.com/bb:1",
        f"oci-archive:{tmp_path}/a.tar:example.com/bb:2",
        f"docker-archive:{tmp_path}/sk.tar:example.com/bb:3",
    ):
        subprocess.run([skopeo, "copy", "-q", f"docker-archive:{tmp_path}/d.tar", dest], check=True)
    assert cove("load", "-i", str(tmp_path / "layout")).out == "Loaded image: example.com/bb:1\n"
    assert cove("load", "-i", str(tmp_path / "a.tar")).out == "Loaded image: example.com/bb:2\n"
    assert cove("load", "-i", str(tmp_path / "sk.tar")).out == "Loaded image: example.com/bb:3\n"
    tags = cove("images", "--format", "{{.Tag}}").out.split()
    assert sorted(tags) == ["1", "2", "3"]


@pytest.mark.slow
def test_umoci_unpacks_cove_oci_dir_to_the_same_files(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    umoci = need_tool("umoci")
    cove = cove_busybox
    cove("save", "busybox", "--format", "oci-dir", "-o", str(tmp_path / "layout"))
    assert (
        subprocess.run(
            [umoci, "ls", "--layout", str(tmp_path / "layout")], capture_output=True, check=True
        ).stdout
        == b"latest\n"
    )
    subprocess.run(
        [umoci, "unpack", "--image", f"{tmp_path}/layout:latest", str(tmp_path / "bundle")],
        check=True,
        capture_output=True,
    )
    engine = cove.engine()
    try:
        snapshot = engine.store.snapshotter.all()[0]
        ours = describe(engine.store.snapshotter.fs(snapshot.id))
    finally:
        engine.close()
    theirs = describe(tmp_path / "bundle" / "rootfs")
    # umoci records its own metadata as xattrs on nothing here; compare what a container sees.
    assert {k: v[:5] for k, v in theirs.items()} == {k: v[:5] for k, v in ours.items()}


def test_legacy_docker_archive_with_gzip_layers(cove: CoveRunner, tmp_path: Path) -> None:
    image = build_image([t.make_tar([t.file("hello", b"world")])], gzip_layers=True)
    write_legacy_docker_archive(tmp_path / "old.tar", image, ["old/style:1"])
    assert cove("load", "-i", str(tmp_path / "old.tar")).out == "Loaded image: old/style:1\n"
    assert ids(cove) == [image.id]


def test_docker_schema2_manifests_keep_their_digest(cove: CoveRunner, tmp_path: Path) -> None:
    image = build_image([t.make_tar([t.file("f", b"docker")])], gzip_layers=True, docker_types=True)
    write_oci_layout(tmp_path / "layout", [(image, "example.com/dockerish:1")])
    cove("load", "-i", str(tmp_path / "layout"))
    assert ids(cove) == [image.id]
    cove("save", "--format", "oci-dir", "-o", str(tmp_path / "again"), "example.com/dockerish:1")
    index = json.loads((tmp_path / "again" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest
    assert index["manifests"][0]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_multi_arch_index_loads_the_host_platform(cove: CoveRunner, tmp_path: Path) -> None:
    host = host_platform().architecture
    other = "s390x" if host != "s390x" else "amd64"
    mine = build_image([t.make_tar([t.file("arch", host.encode())])], architecture=host)
    theirs = build_image([t.make_tar([t.file("arch", other.encode())])], architecture=other)
    write_multiarch_layout(tmp_path / "multi", {other: theirs, host: mine}, "example.com/multi:1")
    cove("load", "-i", str(tmp_path / "multi"))
    assert ids(cove) == [mine.id]


def test_load_from_stdin_compressed(cove: CoveRunner, tmp_path: Path) -> None:
    image = build_image([t.make_tar([t.file("f", b"x")])])
    write_oci_layout(tmp_path / "layout", [(image, "example.com/piped:1")])
    archive = gzip.compress(tar_directory(tmp_path / "layout"))
    proc = cove.proc("load", input=archive)
    assert proc.stdout == b"Loaded image: example.com/piped:1\n"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "damaged image archive"),
        ("not-a-tar", "not an image archive"),
        ("wrong-digest", "digest mismatch"),
        ("wrong-manifest-digest", "digest mismatch"),
        ("no-manifest", "neither manifest.json"),
        ("missing-blob", "image archive is missing"),
    ],
)
def test_bad_archives_are_refused_and_leave_nothing(
    cove: CoveRunner, tmp_path: Path, damage: str, message: str
) -> None:
    image = build_image([t.make_tar([t.file("f", b"x" * 100_000)])])
    layout = tmp_path / "layout"
    write_oci_layout(layout, [(image, "example.com/bad:1")])
    blob_dir = layout / "blobs" / "sha256"
    if damage == "wrong-digest":
        blob = blob_dir / hashlib.sha256(image.layers[0]).hexdigest()
        blob.write_bytes(blob.read_bytes().replace(b"x" * 10, b"y" * 10, 1))
    elif damage == "wrong-manifest-digest":
        blob = blob_dir / image.manifest_digest[7:]
        blob.write_bytes(blob.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    elif damage == "missing-blob":
        (blob_dir / image.id[7:]).unlink()
    data = tar_directory(layout)
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "not-a-tar":
        data = b"this is not an archive\n" * 100
    elif damage == "no-manifest":
        data = t.make_tar([t.file("hello.txt", b"hi")])
    (tmp_path / "bad.tar").write_bytes(data)
    proc = cove.proc("load", "-i", str(tmp_path / "bad.tar"), check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert message in err and "Traceback" not in err
    assert ids(cove) == []
    engine = cove.engine()
    try:
        assert engine.store.snapshotter.all() == []
    finally:
        engine.close()

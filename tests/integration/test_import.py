"""cove import: every compression, stdin and URLs, --change, and bad input that leaves nothing."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.server
import json
import lzma
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.conftest import CoveRunner
from tests.helpers import tars as t

ROOTFS = t.make_tar(
    [
        t.directory("bin"),
        t.file("bin/hello", b"#!/bin/sh\necho hi\n", mode=0o755),
        t.file("etc/os-release", b"ID=test"),
    ]
)
PACKERS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}
STORED_TYPE = {
    "plain": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "bzip2": "application/vnd.oci.image.layer.v1.tar",  # OCI has no bzip2 or xz layers: stored plain
    "xz": "application/vnd.oci.image.layer.v1.tar",
}


def manifest_of(cove: CoveRunner, name: str) -> dict:  # type: ignore[type-arg]
    engine = cove.engine()
    try:
        record = engine.store.images.resolve(name)
        return json.loads(engine.store.content.read(record.manifest_digest))  # type: ignore[no-any-return]
    finally:
        engine.close()


@pytest.mark.parametrize("kind", list(PACKERS))
def test_import_every_compression(cove: CoveRunner, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"rootfs.{kind}"
    path.write_bytes(PACKERS[kind](ROOTFS))
    image_id = cove("import", "-q", str(path), f"imported:{kind}").out.strip()
    assert image_id.startswith("sha256:")
    inspect = json.loads(cove("image", "inspect", f"imported:{kind}").out)[0]
    assert inspect["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(ROOTFS).hexdigest()]
    assert manifest_of(cove, f"imported:{kind}")["layers"][0]["mediaType"] == STORED_TYPE[kind]
    assert inspect["Comment"] == f"Imported from {path}"


def test_import_with_changes_and_message(cove: CoveRunner, tmp_path: Path) -> None:
    (tmp_path / "r.tar").write_bytes(ROOTFS)
    cove(
        "import",
        "-q",
        "-m",
        "my rootfs",
        "-c",
        'CMD ["/bin/hello"]',
        "--change",
        "ENV MODE=prod",
        "-c",
        "EXPOSE 8080",
        "-c",
        "LABEL team=infra",
        str(tmp_path / "r.tar"),
        "app:1",
    )
    item = json.loads(cove("image", "inspect", "app:1").out)[0]
    assert item["Config"]["Cmd"] == ["/bin/hello"]
    assert item["Config"]["Env"] == ["MODE=prod"]
    assert item["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert item["Comment"] == "my rootfs"
    assert cove("images", "--filter", "label=team=infra", "--format", "{{.Repository}}").out == "app\n"


def test_import_untagged_and_from_stdin(cove: CoveRunner) -> None:
    proc = cove.proc("import", "-q", "-", input=gzip.compress(ROOTFS))
    image_id = proc.stdout.decode().strip()
    assert (
        cove("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out
        == f"<none>:<none> {image_id[7:19]}\n"
    )


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """A file server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(www), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_import_from_a_url(cove: CoveRunner, tmp_path: Path, http_server: str) -> None:
    (tmp_path / "www" / "rootfs.tar.gz").write_bytes(gzip.compress(ROOTFS))
    cove("import", "-q", f"{http_server}/rootfs.tar.gz", "fromurl:1")
    assert cove("images", "--format", "{{.Repository}}").out == "fromurl\n"
    missing = cove("import", f"{http_server}/nope.tar", check=False)
    assert missing.rc == 1 and "HTTP 404" in missing.err


def _store_is_empty(cove: CoveRunner) -> None:
    engine = cove.engine()
    try:
        assert engine.store.images.records() == []
        assert engine.store.snapshotter.all() == []
        # leftovers of the failed import are gone (the next command tidies them)
        assert list(engine.store.content.ingest_dir.iterdir()) == []
        leftovers = [p.name for p in engine.store.snapshotter.root.iterdir()]
        assert leftovers == [], leftovers
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (ROOTFS[:1100], "truncated"),  # cut inside the data of bin/hello
        (gzip.compress(ROOTFS)[:-40], "gzip data is truncated"),
        (b"\x1f\x8b" + b"\x00" * 200, "corrupt gzip"),
        (b"hello world\n" * 100, "not a tar archive"),
        (b"", "empty input"),
        (t.make_tar([t.file("../../etc/evil", b"x")]), "would write outside the root"),
    ],
)
def test_bad_tarballs_get_one_line_and_leave_nothing(
    cove: CoveRunner, tmp_path: Path, data: bytes, message: str
) -> None:
    (tmp_path / "bad").write_bytes(data)
    proc = cove.proc("import", str(tmp_path / "bad"), "bad:1", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    _store_is_empty(cove)


def test_missing_file(cove: CoveRunner) -> None:
    result = cove("import", "/no/such/file.tar", check=False)
    assert result.rc == 1 and result.err == "Error: no such file: /no/such/file.tar\n"

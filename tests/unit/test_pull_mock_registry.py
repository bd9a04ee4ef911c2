"""A whole pull over the mock transport, into a real content store and copy snapshotter:
a token asked for once, layers fetched from another host without our credentials, a
dropped connection resumed, and a second pull that fetches nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.content.store import ContentStore
from cove.db.database import Database
from cove.host.runner import SubprocessRunner
from cove.images.pull import Puller, RetryPolicy
from cove.images.store import ImageStore
from cove.images.unpack import Unpacker
from cove.oci import mediatypes as mt
from cove.oci.digest import chain_ids
from cove.oci.platform import parse_platform
from cove.oci.reference import parse_reference
from cove.registry.client import Registry
from cove.registry.hosts import RegistrySettings
from cove.registry.transport import Request
from cove.snapshots.copy import CopySnapshotter
from tests.helpers import tars as t
from tests.helpers.images import BuiltImage, build_image, digest
from tests.helpers.mocktransport import MockResponse, MockTransport, json_response, path
from tests.helpers.snapshot_suite import layer_tar, listing

REALM = "https://auth.example/token"


class ImageRegistry:
    """Serves one image behind a token server; its blobs from a CDN host by redirect."""

    def __init__(self, image: BuiltImage, cut_first_layer_at: int | None = None) -> None:
        self.image = image
        self.blobs = {digest(blob): blob for blob in [*image.layers, image.config]}
        self.tokens = 0
        self.cut = cut_first_layer_at
        self.manifest_gets = 0

    def __call__(self, request: Request) -> MockResponse:
        if request.host == "auth.example":
            self.tokens += 1
            return json_response(200, {"token": "good", "expires_in": 300})
        if request.host == "cdn.example":
            assert "Authorization" not in request.headers
            data = self.blobs[path(request).rsplit("/", 1)[1]]
            asked = request.headers.get("Range")
            if asked:
                offset = int(asked.removeprefix("bytes=").rstrip("-"))
                return MockResponse(206, data[offset:])
            cut, self.cut = (self.cut, None) if data == self.image.layers[0] else (None, self.cut)
            return MockResponse(200, data, cut=cut)
        if request.headers.get("Authorization") != "Bearer good":
            return MockResponse(401, b"", {"WWW-Authenticate": f'Bearer realm="{REALM}",service="reg"'})
        if "/manifests/" in path(request):
            self.manifest_gets += request.method == "GET"
            return MockResponse(
                200,
                self.image.manifest if request.method == "GET" else b"",
                {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": self.image.manifest_digest},
            )
        digest = path(request).rsplit("/", 1)[1]
        return MockResponse(307, b"", {"Location": f"https://cdn.example/b/{digest}"})


@dataclass
class Engine:
    content: ContentStore
    images: ImageStore
    snapshotter: CopySnapshotter
    puller: Puller


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = Database(tmp_path / "cove.db")
    try:
        content = ContentStore(tmp_path / "content")
        images = ImageStore(db, content)
        snapshotter = CopySnapshotter(tmp_path / "snapshots", db, SubprocessRunner())
        (tmp_path / "locks").mkdir()
        unpacker = Unpacker(content, snapshotter, images, tmp_path / "locks", workers=2)
        retry = RetryPolicy(attempts=3, first_delay=0.001)
        puller = Puller(content, images, unpacker, platform=parse_platform("linux/amd64"), retry=retry)
        yield Engine(content, images, snapshotter, puller)
    finally:
        db.close()


def test_a_pull_over_the_mock_transport(engine: Engine) -> None:
    image = build_image(
        [
            layer_tar(t.directory("etc"), t.file("etc/motd", b"hello\n")),
            layer_tar(t.directory("etc"), t.file("etc/motd", b"again\n"), t.file("app", b"x" * 5000)),
        ],
        gzip_layers=True,
    )
    fake = ImageRegistry(image, cut_first_layer_at=100)
    transport = MockTransport(fake)
    settings = RegistrySettings(certs_dir=Path("/nonexistent"))
    repo = Registry("reg.example", settings, transport, lambda: None).repository("lib/app")
    ref = parse_reference("reg.example/lib/app:1")

    result = engine.puller.pull(repo, ref)
    assert str(result.image_id) == image.id and result.updated
    assert fake.tokens == 1
    top = chain_ids(engine.images.config(engine.images.get(result.image_id)).diff_ids)[-1]
    [mount] = engine.snapshotter.mounts(top)
    assert listing(Path(mount.source)) == {"app": "x" * 5000, "etc": "<dir>", "etc/motd": "again\n"}
    resumed = [r for r in transport.sent_to("cdn.example") if "Range" in r.headers]
    assert len(resumed) == 1  # the dropped connection, resumed where it broke
    for blob in [*image.layers, image.config, image.manifest]:
        assert engine.content.read(digest(blob)) == blob

    before = len(transport.requests)
    again = engine.puller.pull(repo, ref)
    assert again.image_id == result.image_id and not again.updated
    asked = transport.requests[before:]
    assert [(r.method, path(r)) for r in asked] == [("HEAD", "/v2/lib/app/manifests/1")]  # nothing fetched
    assert fake.manifest_gets == 1

import hashlib
import json

import pytest

from cove.errors import InvalidArgument
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest, chain_ids
from cove.oci.image import ImageConfig, Index, Manifest, pick_platform, sniff_media_type


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_digest_validation() -> None:
    d = Digest.of(b"hello")
    assert d == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert d.short == "2cf24dba5fb0"
    with pytest.raises(InvalidArgument, match="invalid digest"):
        Digest("sha256:XYZ")
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        Digest("sha512:" + "a" * 128)


def test_chain_ids_follow_the_image_spec() -> None:
    a, b, c = (Digest(sha(x)) for x in "abc")
    chain = chain_ids([a, b, c])
    assert chain[0] == a
    assert chain[1] == sha(f"{a} {b}")
    assert chain[2] == sha(f"{chain[1]} {c}")
    assert chain_ids([]) == []


def _manifest(**over: object) -> bytes:
    obj = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "digest": sha("c"), "size": 10},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": sha("l"), "size": 20}],
    }
    obj.update(over)
    return json.dumps(obj).encode()


def test_docker_schema2_manifests_are_accepted() -> None:
    m = Manifest.parse(_manifest())
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.layers[0].digest == sha("l")
    assert Manifest.parse(m.to_bytes()) == m


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (_manifest(schemaVersion=1), "schemaVersion"),
        (_manifest(mediaType="text/plain"), "unsupported manifest media type"),
        (_manifest(config={"digest": sha("c"), "size": 1}), "no 'mediaType'"),
        (
            _manifest(layers=[{"mediaType": "x/y", "digest": sha("l"), "size": 1}]),
            "unsupported layer media type",
        ),
        (
            _manifest(layers=[{"mediaType": mt.OCI_LAYER, "digest": "sha256:nope", "size": 1}]),
            "invalid digest",
        ),
    ],
)
def test_bad_manifests_are_rejected(data: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        Manifest.parse(data)


def test_index_and_platform_choice() -> None:
    entries = [
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": sha("arm"),
            "size": 1,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
        },
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": sha("amd"),
            "size": 1,
            "platform": {"os": "linux", "architecture": "amd64"},
        },
    ]
    data = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
    assert sniff_media_type(data) == mt.OCI_INDEX
    index = Index.parse(data)
    picked = pick_platform(index, "linux", "amd64")
    assert picked is not None and picked.digest == sha("amd")
    picked = pick_platform(index, "linux", "arm64", "v8")
    assert picked is not None and picked.digest == sha("arm")
    assert pick_platform(index, "linux", "s390x") is None


def test_image_config_keeps_unknown_keys() -> None:
    raw = {
        "architecture": "amd64",
        "os": "linux",
        "x-extra": 1,
        "rootfs": {"type": "layers", "diff_ids": [sha("a")]},
    }
    config = ImageConfig.parse(json.dumps(raw).encode())
    assert config.diff_ids == [sha("a")]
    assert json.loads(config.to_bytes())["x-extra"] == 1
    with pytest.raises(InvalidArgument, match="rootfs"):
        ImageConfig.parse(b'{"rootfs": {"type": "other"}}')

"""Registries and archives that lie: a manifest body that is not what its digest header says,
descriptors whose sizes are wrong. Each is refused with an error naming it, and nothing is kept."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveRunner
from tests.helpers import tars as t
from tests.helpers.images import (
    OCI_INDEX,
    BuiltImage,
    build_image,
    digest,
    tar_directory,
    write_multiarch_layout,
    write_oci_layout,
)
from tests.helpers.registry import Registry, RegistryClient, push_built_image
from tests.helpers.store import check_store


def _nothing_kept(cove: CoveRunner) -> None:
    assert cove("images", "-aq").out == ""
    ingest = cove.root / "content" / "ingest"
    assert not ingest.exists() or [p for p in ingest.glob("partial-*") if not p.name.endswith(".lock")] == []
    engine = cove.engine()
    try:
        check_store(engine)
        assert engine.store.snapshotter.all() == []
    finally:
        engine.close()


def _image(text: str) -> BuiltImage:
    return build_image([t.make_tar([t.file("f", text.encode() * 1000)])])


def _with_manifest(image: BuiltImage, change: Any) -> BuiltImage:
    """The image with its manifest JSON changed by ``change`` (a function of the dict)."""
    manifest = json.loads(image.manifest)
    change(manifest)
    return BuiltImage(image.config, json.dumps(manifest).encode(), image.layers, image.plain_layers)


def _get(registry: Registry, path: str) -> tuple[bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(registry.host, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        response = conn.getresponse()
        return response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


@pytest.mark.slow
def test_a_tag_whose_body_is_not_its_digest_is_refused(cove: CoveRunner, registry: Registry) -> None:
    honest, other = _image("honest"), _image("other")
    honest_digest = push_built_image(registry, "lie", "honest", honest)
    push_built_image(registry, "lie", "other", other)
    # Behind the registry's back, the tag's manifest becomes another (valid) image's: it serves
    # that body under the first digest, as a tampering proxy or a broken mirror would.
    registry.blob_path(honest_digest).write_bytes(other.manifest)
    body, headers = _get(registry, "/v2/lie/manifests/honest")
    assert body == other.manifest and headers["docker-content-digest"] == honest_digest
    by_tag = cove("pull", f"{registry.host}/lie:honest", check=False)
    assert by_tag.rc == 1, by_tag
    assert "Docker-Content-Digest" in by_tag.err and "digest mismatch" in by_tag.err
    assert f"expected {honest_digest}, got {digest(other.manifest)}" in by_tag.err
    assert len(by_tag.err.splitlines()) == 1
    by_digest = cove("pull", f"{registry.host}/lie@{honest_digest}", check=False)
    assert by_digest.rc == 1 and "digest mismatch" in by_digest.err
    _nothing_kept(cove)
    # The honest tag still pulls.
    cove("pull", "-q", f"{registry.host}/lie:other")
    assert cove("images", "-q", "--no-trunc").out == other.id + "\n"


def _plus(n: int, *keys: str | int) -> Any:
    def change(obj: dict[str, Any]) -> None:
        node: Any = obj
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] += n

    return change


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (_plus(1, "config", "size"), "image config of"),
        (_plus(-1, "config", "size"), "image config of"),
        (_plus(-1, "layers", 0, "size"), "layer of"),
        (_plus(1, "layers", 0, "size"), "layer of"),
    ],
    ids=["config-larger", "config-smaller", "layer-smaller", "layer-larger"],
)
def test_pull_checks_descriptor_sizes(cove: CoveRunner, registry: Registry, change: Any, what: str) -> None:
    image = _with_manifest(_image("sizes"), change)
    push_built_image(registry, "sizes", "1", image)
    result = cove("pull", f"{registry.host}/sizes:1", check=False)
    assert result.rc == 1, result
    assert "size mismatch: its descriptor says" in result.err and what in result.err, result.err
    _nothing_kept(cove)


def test_pull_checks_a_stored_layers_size_and_an_index_entrys(cove: CoveRunner, registry: Registry) -> None:
    image = _image("index")
    manifest_digest = push_built_image(registry, "idx", "right", image)
    # An index entry that says 1 byte for the manifest.
    client = RegistryClient(registry)
    entry = {
        "mediaType": json.loads(image.manifest)["mediaType"],
        "digest": manifest_digest,
        "size": 1,
        "platform": {"os": "linux", "architecture": "amd64"},
    }
    arm = dict(entry, platform={"os": "linux", "architecture": "arm64"})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry, arm]}).encode()
    client.put_manifest("idx", "index", index, OCI_INDEX)
    for platform in ("linux/amd64", "linux/arm64"):
        result = cove("pull", "--platform", platform, f"{registry.host}/idx:index", check=False)
        assert result.rc == 1, result
        assert f"says 1 bytes, the content has {len(image.manifest)}" in result.err
    _nothing_kept(cove)
    # The layer stored by a right pull; then a manifest naming it with another size.
    cove("pull", "-q", f"{registry.host}/idx:right")
    lying = _with_manifest(image, _plus(5, "layers", 0, "size"))
    lying = BuiltImage(
        json.dumps({**json.loads(image.config), "author": "x"}).encode(),
        lying.manifest,
        lying.layers,
        lying.plain_layers,
    )
    lying = _with_manifest(
        lying, lambda m: m["config"].update(digest=digest(lying.config), size=len(lying.config))
    )
    push_built_image(registry, "idx", "lying", lying)
    result = cove("pull", f"{registry.host}/idx:lying", check=False)
    assert result.rc == 1 and "layer of" in result.err and "size mismatch" in result.err, result
    assert cove("images", "-q", "--no-trunc").out == image.id + "\n"


@pytest.mark.parametrize("form", ["oci-dir", "oci-archive"])
@pytest.mark.parametrize("where", ["index-entry", "nested-index-entry", "config", "layer"])
def test_load_checks_descriptor_sizes(cove: CoveRunner, tmp_path: Path, form: str, where: str) -> None:
    layout = tmp_path / "layout"
    image = _image("load")
    if where == "nested-index-entry":
        index = write_multiarch_layout(layout, {"amd64": image, "arm64": image}, "example.com/sizes:1")
        nested = json.loads(index)
        for entry in nested["manifests"]:
            entry["size"] = 1
        changed = json.dumps(nested).encode()
        (layout / "blobs" / "sha256" / digest(changed)[7:]).write_bytes(changed)
        top = json.loads((layout / "index.json").read_text())
        top["manifests"][0].update(digest=digest(changed), size=len(changed))
        (layout / "index.json").write_text(json.dumps(top))
        expected = f"says 1 bytes, the content has {len(image.manifest)}"
    elif where == "index-entry":
        write_oci_layout(layout, [(image, "example.com/sizes:1")])
        top = json.loads((layout / "index.json").read_text())
        top["manifests"][0]["size"] = 1
        (layout / "index.json").write_text(json.dumps(top))
        expected = f"image manifest in the image archive ({image.manifest_digest}): size mismatch"
    else:
        change = _plus(-1, "config", "size") if where == "config" else _plus(-1, "layers", 0, "size")
        lying = _with_manifest(image, change)
        write_oci_layout(layout, [(lying, "example.com/sizes:1")])
        expected = f"{'image config' if where == 'config' else 'layer'} in the image archive"
    source = layout
    if form == "oci-archive":
        source = tmp_path / "image.tar"
        source.write_bytes(tar_directory(layout))
    result = cove("load", "-i", str(source), check=False)
    assert result.rc == 1, result
    assert expected in result.err and "size mismatch" in result.err, result.err
    _nothing_kept(cove)

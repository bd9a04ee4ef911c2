"""Writing small images by hand, as OCI layouts and docker-archives, for tests to load."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    config: bytes
    manifest: bytes
    layers: list[bytes]  # as stored (maybe gzip)
    plain_layers: list[bytes]

    @property
    def id(self) -> str:
        return digest(self.config)

    @property
    def manifest_digest(self) -> str:
        return digest(self.manifest)


def build_image(
    layers: list[bytes],
    *,
    gzip_layers: bool = False,
    config: dict[str, Any] | None = None,
    architecture: str = "amd64",
    docker_types: bool = False,
) -> BuiltImage:
    """An image from plain layer tars; ``docker_types`` uses Docker v2 schema 2 media types."""
    stored = [gzip.compress(layer, mtime=0) if gzip_layers else layer for layer in layers]
    raw = {
        "architecture": architecture,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": config or {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in layers]},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"} for i in range(len(layers))
        ],
    }
    config_bytes = json.dumps(raw).encode()
    if docker_types:
        manifest_type = DOCKER_MANIFEST
        config_type = "application/vnd.docker.container.image.v1+json"
        layer_type = "application/vnd.docker.image.rootfs.diff.tar" + (".gzip" if gzip_layers else "")
    else:
        manifest_type, config_type = OCI_MANIFEST, OCI_CONFIG
        layer_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else "")
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_type, "digest": digest(b), "size": len(b)} for b in stored],
    }
    return BuiltImage(config_bytes, json.dumps(manifest).encode(), stored, layers)


def _blob(root: Path, data: bytes) -> None:
    path = root / "blobs" / "sha256" / digest(data)[7:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_oci_layout(
    root: Path, images: list[tuple[BuiltImage, str | None]], index_extra: bytes | None = None
) -> None:
    """An OCI image layout directory; each image with an optional ref name annotation."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for image, name in images:
        for data in (image.config, image.manifest, *image.layers):
            _blob(root, data)
        entry: dict[str, Any] = {
            "mediaType": json.loads(image.manifest)["mediaType"],
            "digest": image.manifest_digest,
            "size": len(image.manifest),
        }
        if name:
            entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        entries.append(entry)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))


def write_multiarch_layout(root: Path, images: dict[str, BuiltImage], name: str) -> bytes:
    """An OCI layout whose single entry is an index of per-architecture manifests."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifests = []
    for arch, image in images.items():
        for data in (image.config, image.manifest, *image.layers):
            _blob(root, data)
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": image.manifest_digest,
                "size": len(image.manifest),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    _blob(root, index)
    top = {
        "mediaType": OCI_INDEX,
        "digest": digest(index),
        "size": len(index),
        "annotations": {"org.opencontainers.image.ref.name": name},
    }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return index


def tar_directory(root: Path) -> bytes:
    """A tar of a directory's contents (e.g. an OCI layout, to load as an oci-archive)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


def write_legacy_docker_archive(path: Path, image: BuiltImage, tags: list[str]) -> None:
    """The docker-archive layout of `docker save` before Docker 25: <id>/layer.tar, <id>.json."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        layer_paths = []
        for i, layer in enumerate(image.layers):
            layer_id = hashlib.sha256(f"v1-{i}".encode()).hexdigest()
            dir_info = tarfile.TarInfo(layer_id)
            dir_info.type = tarfile.DIRTYPE
            tar.addfile(dir_info)
            add(f"{layer_id}/layer.tar", layer)
            add(f"{layer_id}/VERSION", b"1.0")
            layer_paths.append(f"{layer_id}/layer.tar")
        config_name = image.id[7:] + ".json"
        add(config_name, image.config)
        manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_paths}]
        add("manifest.json", json.dumps(manifest).encode())
    path.write_bytes(buf.getvalue())

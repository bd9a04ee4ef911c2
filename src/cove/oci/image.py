"""OCI image manifests, indexes, descriptors and image configs (wire types, no I/O).

Manifests and indexes are parsed from the exact bytes they were stored as, because their
digest is the digest of those bytes. Docker v2 schema 2 media types are accepted on input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cove.errors import InvalidArgument, SizeMismatch
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest


def canonical_json(obj: Any) -> bytes:
    """Compact, stable JSON as cove writes every manifest and config it creates."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, obj: Any, what: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{what} is not a JSON object")
        try:
            media_type = obj["mediaType"]
            digest = Digest(obj["digest"])
            size = obj["size"]
        except KeyError as exc:
            raise InvalidArgument(f"{what} has no {exc.args[0]!r}") from None
        if not isinstance(media_type, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidArgument(f"{what} has an invalid mediaType or size")
        annotations = obj.get("annotations") or {}
        return cls(media_type, digest, size, annotations, obj.get("platform"))

    def check_size(self, actual: int, what: str) -> None:
        """Raise when the content this descriptor points at is not of the size it gives."""
        if actual != self.size:
            raise SizeMismatch(f"{what} ({self.digest})", self.size, actual)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        obj = _load_json(data, "image manifest")
        media_type = obj.get("mediaType", mt.OCI_MANIFEST)
        if media_type not in mt.MANIFEST_TYPES:
            raise InvalidArgument(f"unsupported manifest media type {media_type!r}")
        if obj.get("schemaVersion") != 2:
            raise InvalidArgument("unsupported manifest schemaVersion (need 2)")
        config = Descriptor.from_json(obj.get("config"), "manifest config")
        layers_json = obj.get("layers") or []
        if not isinstance(layers_json, list):
            raise InvalidArgument("manifest layers is not a list")
        layers = tuple(
            Descriptor.from_json(item, f"manifest layer {i}") for i, item in enumerate(layers_json)
        )
        for layer in layers:
            if layer.media_type not in mt.LAYER_TYPES:
                raise InvalidArgument(f"unsupported layer media type {layer.media_type!r}")
        return cls(media_type, config, layers, obj.get("annotations") or {})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, what: str = "image index") -> Index:
        obj = _load_json(data, what)
        media_type = obj.get("mediaType", mt.OCI_INDEX)
        if media_type not in mt.INDEX_TYPES:
            raise InvalidArgument(f"unsupported index media type {media_type!r}")
        items = obj.get("manifests") or []
        if not isinstance(items, list):
            raise InvalidArgument(f"{what}: manifests is not a list")
        manifests = tuple(Descriptor.from_json(item, f"{what} entry {i}") for i, item in enumerate(items))
        return cls(media_type, manifests, obj.get("annotations") or {})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def sniff_media_type(data: bytes) -> str:
    """The media type a manifest-or-index blob declares (or implies, for OCI)."""
    obj = _load_json(data, "manifest")
    declared = obj.get("mediaType")
    if isinstance(declared, str):
        return declared
    return mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST


@dataclass
class ImageConfig:
    """An image config (``application/vnd.oci.image.config.v1+json``), kept as its JSON.

    Keys cove does not know are preserved, so a config read and written back keeps them.
    """

    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        obj = _load_json(data, "image config")
        rootfs = obj.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
            raise InvalidArgument("image config has no rootfs of type 'layers'")
        diff_ids = rootfs.get("diff_ids")
        if not isinstance(diff_ids, list):
            raise InvalidArgument("image config rootfs.diff_ids is not a list")
        for item in diff_ids:
            Digest(item)
        return cls(obj)

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest(d) for d in self.raw["rootfs"]["diff_ids"]]

    @property
    def config(self) -> dict[str, Any]:
        value = self.raw.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def history(self) -> list[dict[str, Any]]:
        value = self.raw.get("history")
        return value if isinstance(value, list) else []

    @property
    def created(self) -> str | None:
        value = self.raw.get("created")
        return value if isinstance(value, str) else None

    @property
    def labels(self) -> dict[str, str]:
        value = self.config.get("Labels")
        return value if isinstance(value, dict) else {}

    def platform_string(self) -> str:
        out = f"{self.raw.get('os', 'linux')}/{self.raw.get('architecture', '')}"
        variant = self.raw.get("variant")
        return f"{out}/{variant}" if variant else out

    def to_bytes(self) -> bytes:
        return canonical_json(self.raw)


def pick_platform(index: Index, os_name: str, architecture: str, variant: str = "") -> Descriptor | None:
    """The index entry for a platform: exact variant first, then any variant of the arch."""
    candidates = [
        d
        for d in index.manifests
        if d.platform is not None
        and d.platform.get("os") == os_name
        and d.platform.get("architecture") == architecture
    ]
    for d in candidates:
        if (d.platform or {}).get("variant", "") == variant:
            return d
    return candidates[0] if candidates else None

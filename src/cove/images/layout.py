"""Names used inside image archives: OCI image layouts and Docker's manifest.json."""

from __future__ import annotations

import re

from cove.oci.digest import Digest

OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_CONTENT = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_FILE = "index.json"
DOCKER_MANIFEST_FILE = "manifest.json"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"

_BLOB_PATH = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")


def blob_path(digest: str) -> str:
    return f"blobs/sha256/{Digest(digest).hex}"


def digest_of_blob_path(path: str) -> Digest | None:
    """The digest a layout path claims (``blobs/sha256/<hex>``), or None for other paths."""
    match = _BLOB_PATH.match(path)
    return Digest.from_hex(match.group(1)) if match else None


def normalize_member(name: str) -> str:
    """An archive member name without ``./`` or leading slashes."""
    parts = [p for p in name.split("/") if p and p != "."]
    return "/".join(parts)

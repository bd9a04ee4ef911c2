"""Content digests (``sha256:<hex>``), as the OCI image-spec defines them."""

from __future__ import annotations

import hashlib
import re

from cove.errors import InvalidArgument

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_OTHER_ALGO_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class Digest(str):
    """A validated ``sha256:<64 hex>`` digest; a ``str`` so it can go anywhere text goes."""

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        if not _DIGEST_RE.match(value):
            if _OTHER_ALGO_RE.match(value) and not value.startswith("sha256:"):
                raise InvalidArgument(f"unsupported digest algorithm in {value!r} (only sha256)")
            raise InvalidArgument(f"invalid digest {value!r}")
        return super().__new__(cls, value)

    @property
    def hex(self) -> str:
        return self[7:]

    @property
    def short(self) -> str:
        """The 12-character form Docker shows as an image ID."""
        return self[7:19]

    @classmethod
    def from_hex(cls, hexdigest: str) -> Digest:
        return cls("sha256:" + hexdigest)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls("sha256:" + hashlib.sha256(data).hexdigest())


def is_digest(value: str) -> bool:
    return bool(_DIGEST_RE.match(value))


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """ChainIDs of a layer stack: each names a layer together with everything under it."""
    chain: list[Digest] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            chain.append(Digest.of(f"{chain[-1]} {diff_id}".encode()))
    return chain

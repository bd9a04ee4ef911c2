"""The content-store conformance suite over the content store on a directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cove.content.store import ContentStore
from cove.oci.digest import Digest
from tests.helpers.content_suite import ContentStoreConformance, ContentSubject


@pytest.fixture
def subject(tmp_path: Path) -> ContentSubject:
    store = ContentStore(tmp_path / "content")

    def leftovers() -> list[str]:
        return sorted(os.listdir(store.ingest_dir))

    def corrupt(digest: Digest) -> None:
        path = store.path(digest)
        path.chmod(0o644)
        path.write_bytes(path.read_bytes()[:-1] + b"!")

    return ContentSubject(store, leftovers, corrupt)


class TestContentStore(ContentStoreConformance):
    pass

"""ImageStore.tag_time: when a name last moved to its image (what a daily pull policy ages)."""

from __future__ import annotations

import time
from pathlib import Path

from cove.content.store import ContentStore
from cove.db.database import Database
from cove.images.store import ImageStore
from cove.oci.digest import Digest
from cove.oci.reference import parse_reference


def test_tag_time_is_when_the_tag_last_moved(tmp_path: Path) -> None:
    db = Database(tmp_path / "cove.db")
    try:
        images = ImageStore(db, ContentStore(tmp_path / "content"))
        ref = parse_reference("busybox:1")
        assert images.tag_time(ref) is None
        first, second = Digest.of(b"one"), Digest.of(b"two")
        before = time.time()
        images.add(
            config_digest=first, manifest_digest=first, media_type="x", size=0, created=None, tags=[ref]
        )
        tagged = images.tag_time(ref)
        assert tagged is not None and before <= tagged <= time.time()
        images.add(config_digest=second, manifest_digest=second, media_type="x", size=0, created=None)
        assert images.tag_time(ref) == tagged  # another image stored: this tag did not move
        time.sleep(0.01)
        images.tag(str(second), ref)
        moved = images.tag_time(ref)
        assert moved is not None and moved > tagged
        assert images.tag_time(parse_reference("busybox:2")) is None
    finally:
        db.close()

"""Finding out whether overlayfs can be used under a directory, by trying it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cove.errors import CoveError
from cove.host.mounts import mount_all, unmount
from cove.host.trees import remove_quietly
from cove.oci.mount import Mount


def probe_overlay(under: Path) -> tuple[bool, str]:
    """Mount a tiny overlay with a whiteout and an opaque directory under ``under``.

    Returns (works, reason); the reason says why not when it does not work.
    """
    under.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=under))
    lower, upper, work, merged = (base / n for n in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    mounted = False
    step = "prepare the probe directories"
    try:
        (lower / "gone").write_text("x")
        (lower / "dir").mkdir()
        (lower / "dir" / "hidden").write_text("x")
        step = "create a whiteout (a 0/0 character device)"
        os.mknod(upper / "gone", 0o600 | 0o020000, os.makedev(0, 0))
        (upper / "dir").mkdir()
        step = "set the trusted.overlay.opaque attribute"
        os.setxattr(upper / "dir", "trusted.overlay.opaque", b"y")
        step = "mount overlayfs"
        mount_all(
            [Mount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"))],
            merged,
        )
        mounted = True
        if (merged / "gone").exists() or (merged / "dir" / "hidden").exists():
            return False, "overlayfs ignores whiteouts or opaque directories here"
        step = "write through an overlay mount"
        (merged / "new").write_text("y")
        return True, "overlayfs works"
    except (OSError, CoveError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return False, f"cannot {step} on {under}: {detail}"
    finally:
        if mounted:
            unmount(merged)
        remove_quietly(base)

"""How a layer's deletions are held on disk (the OCI image spec's whiteouts)."""

from __future__ import annotations

import enum


class WhiteoutMode(enum.Enum):
    """``.wh.NAME`` and ``.wh..wh..opq`` in a layer tar are either kept in the form overlayfs
    reads (a 0/0 character device, the ``trusted.overlay.opaque`` xattr), for layers stored
    as overlay lower directories, or carried out by deleting what they name, for a layer
    applied onto a full tree."""

    OVERLAY = "overlay"
    APPLY = "apply"

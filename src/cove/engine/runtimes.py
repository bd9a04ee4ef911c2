"""Which OCI runtime containers use: detected once per store, re-checked when the binary changes."""

from __future__ import annotations

import json
import os

from cove.engine.store import Store
from cove.errors import Unavailable
from cove.runtime.oci import RuntimeInfo


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def choose_runtime(store: Store, requested: str | None = None) -> RuntimeInfo:
    requested = requested or store.config.runtime
    key = f"runtime:{requested or 'auto'}"
    cached = store.db.get_meta(key)
    if cached:
        data = json.loads(cached)
        if data.get("chosen") and _mtime(data["chosen"]["path"]) == data.get("mtime"):
            return RuntimeInfo(**data["chosen"])
    from cove.runtime.detect import detect  # probes run containers: only on a cache miss

    detection = detect(store.runner, requested)
    chosen = detection.chosen
    record = {
        "chosen": chosen._asdict() if chosen else None,
        "mtime": _mtime(chosen.path) if chosen else None,
        "rejected": detection.rejected,
    }
    store.db.set_meta(key, json.dumps(record))
    if chosen is None:
        reasons = "; ".join(f"{name}: {why}" for name, why in detection.rejected.items())
        raise Unavailable(
            f"no OCI runtime works on this host ({reasons})",
            hint="install runc or crun (apt-get install runc)",
        )
    return chosen


def rejected_runtimes(store: Store) -> dict[str, str]:
    """Runtimes found but not usable here, with the reason (from the last detection)."""
    cached = store.db.get_meta(f"runtime:{store.config.runtime or 'auto'}")
    if not cached:
        return {}
    rejected: dict[str, str] = json.loads(cached).get("rejected") or {}
    return rejected

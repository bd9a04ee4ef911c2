"""The container state the monitor records (``state.json``), written atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

CREATED = "created"
RUNNING = "running"
RESTARTING = "restarting"
EXITED = "exited"


def now_rfc3339() -> str:
    """The time now as Go's RFC3339Nano writes it (Docker's StartedAt, FinishedAt and health
    log times): UTC, nanoseconds with trailing zeros trimmed, no fraction on a whole second."""
    seconds, frac = divmod(time.time_ns(), 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

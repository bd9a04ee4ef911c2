"""The compose loader's error: one line naming the file, the key path and what is wrong."""

from __future__ import annotations

from cove.errors import InvalidArgument


class ComposeError(InvalidArgument):
    """A compose file (or the options that find it) is wrong; the message is the whole story."""


def where(source: str, path: tuple[str | int, ...] = ()) -> str:
    """``compose.yaml: services.web.ports[1]`` (or just the file when there is no path)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"{source}: {text}" if text else source

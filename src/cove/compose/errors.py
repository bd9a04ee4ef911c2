"""The compose loader's error: one line naming the file, the key path and what is wrong."""

from __future__ import annotations

from cove.errors import InvalidArgument


class ComposeError(InvalidArgument):
    """A compose file (or the options that find it) is wrong; the message is the whole story."""


def format_path(path: tuple[str | int, ...]) -> str:
    """``("services", "web", "ports", 1)`` -> ``services.web.ports[1]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


def where(source: str, path: tuple[str | int, ...] = ()) -> str:
    """``compose.yaml: services.web.ports[1]`` (or just the file when there is no path)."""
    text = format_path(path)
    return f"{source}: {text}" if text else source

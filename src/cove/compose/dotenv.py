"""Stand-in until the dotenv module lands (same API): ``KEY=value`` lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cove.errors import InvalidArgument


class DotenvError(InvalidArgument):
    pass


def parse_dotenv(
    text: str, *, lookup: Callable[[str], str | None] = lambda _: None, source: str = ".env"
) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        out[key.strip()] = value.strip().strip("\"'")
    return out


def read_dotenv(
    path: Path, *, lookup: Callable[[str], str | None] = lambda _: None, required: bool = True
) -> dict[str, str]:
    if not path.exists() and not required:
        return {}
    try:
        return parse_dotenv(path.read_text(), lookup=lookup, source=str(path))
    except OSError as exc:
        raise DotenvError(f"{path}: {exc.strerror}") from None

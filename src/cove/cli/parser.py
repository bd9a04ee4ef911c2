"""argparse, made to fail like Docker's CLI: one line, a pointer to --help, exit 125."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn


class UsageError(Exception):
    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog


class CoveArgumentParser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def go_bool(text: str) -> bool:
    """Go's boolean flag values: true/false/1/0/t/f."""
    value = text.lower()
    if value in ("true", "1", "t", "yes"):
        return True
    if value in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def parse_filters(values: list[str] | None) -> dict[str, list[str]]:
    """``--filter key=value`` flags into Docker's filter map (repeated keys are OR'ed)."""
    filters: dict[str, list[str]] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"bad format of filter (expected name=value): {item!r}", "")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


# argparse's subparsers action, or a stand-in that builds only the commands a run needs.
Subparsers = Any

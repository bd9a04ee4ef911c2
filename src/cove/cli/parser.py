"""argparse, made to fail like Docker's CLI: one line, a pointer to --help, exit 125."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn


class UsageError(Exception):
    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog


class GoBool(argparse.Action):
    """A Go-style boolean flag: ``--flag`` (true), ``--flag=false``; never eats the next word."""

    def __init__(self, option_strings: list[str], dest: str, default: bool = True, **kw: Any) -> None:
        kw.pop("nargs", None)
        kw.pop("const", None)
        kw.pop("type", None)
        super().__init__(option_strings, dest, nargs="?", const=True, default=default, type=go_bool, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        setattr(namespace, self.dest, values)


def command_line() -> Sequence[str]:
    """The words after the program's name: what ``parse_args()`` reads when given none."""
    return sys.argv[1:]


class CoveArgumentParser(argparse.ArgumentParser):
    def __init__(
        self, *args: object, command_line: Callable[[], Sequence[str]] = command_line, **kwargs: object
    ) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.command_line = command_line

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        return super().parse_known_args(self._explicit_bools(args), namespace)

    def _explicit_bools(self, args: Any) -> Any:
        """Turn a bare ``--flag`` of a GoBool into ``--flag=true`` up to the first positional,
        so it does not take the image name (``run --sig-proxy busybox``) as its value."""
        if args is None:
            args = self.command_line()  # what argparse would read: rewrite it too
        bools = {o for a in self._actions if isinstance(a, GoBool) for o in a.option_strings}
        if not bools:
            return args
        takes_value = {
            o for a in self._actions if a.option_strings and a.nargs != 0 and not isinstance(a, GoBool)
            for o in a.option_strings
        }  # fmt: skip
        out: list[str] = []
        words = list(args)
        i = 0
        while i < len(words):
            word = words[i]
            if word == "--" or not word.startswith("-"):
                return out + words[i:]
            if word in bools:
                out.append(word + "=true")
            elif word in takes_value:
                out += words[i : i + 2]
                i += 1
            else:
                out.append(word)
            i += 1
        return out


_GO_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_GO_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def go_bool(text: str) -> bool:
    """Go's strconv.ParseBool, which Docker's flags use: exactly these spellings (no yes/no)."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
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

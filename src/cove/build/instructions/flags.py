"""An instruction's ``--name=value`` flags, checked against what it takes (BuildKit's rules).

Each instruction declares its flags: a *bool* (``--link``, ``--link=true``, ``--link=false``),
a *string* given at most once (``--from=build``) or *strings* given any number of times
(``--mount=...``, ``--exclude=...``). Parsing refuses an unknown flag (with the closest known
name as a hint), a single-valued flag given twice, a string flag without ``=value`` and a bool
flag with ``=`` but no value or a value other than true/false. A bare ``--`` ends the flags.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum


class FlagKind(Enum):
    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"


class FlagError(ValueError):
    """A flag the instruction cannot take as written (the message names it)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ParsedFlags:
    """What was given: bools as True/False, strings as their (last) value, strings as a tuple."""

    values: Mapping[str, bool | str | tuple[str, ...]]

    def given(self, name: str) -> bool:
        return name in self.values

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name, default)
        assert isinstance(value, bool)
        return value

    def string(self, name: str, default: str = "") -> str:
        value = self.values.get(name, default)
        assert isinstance(value, str)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.values.get(name, ())
        assert isinstance(value, tuple)
        return value


def parse_flags(written: Iterable[str], accepted: Mapping[str, FlagKind]) -> ParsedFlags:
    """The flags as written (``("--from=build", "--link")``) checked against ``accepted``."""
    values: dict[str, bool | str | tuple[str, ...]] = {}
    for token in written:
        if token == "--":
            break  # the end of the flags (POSIX): whatever follows is not one
        if not token.startswith("--"):
            raise FlagError(f"arg should start with -- : {token}")
        spelled, has_value, value = token.partition("=")
        name = spelled[2:]
        kind = accepted.get(name)
        if kind is None:
            raise FlagError(f"unknown flag: {spelled}", hint=_suggestion(name, accepted))
        if name in values and kind is not FlagKind.STRINGS:
            raise FlagError(f"duplicate flag specified: {spelled}")
        if kind is FlagKind.BOOL:
            if has_value and not value:
                raise FlagError(f"missing a value on flag: {spelled}")
            if value.lower() not in ("", "true", "false"):
                raise FlagError(f"expecting boolean value for flag {spelled}, not: {value}")
            values[name] = value.lower() != "false"
        elif not has_value:
            raise FlagError(f"missing a value on flag: {spelled}")
        elif kind is FlagKind.STRING:
            values[name] = value
        else:
            previous = values.get(name, ())
            assert isinstance(previous, tuple)
            values[name] = (*previous, value)
    return ParsedFlags(values)


def written_by_name(written: Iterable[str]) -> dict[str, list[str]]:
    """The flags as written, by name in order of appearance (``--link`` as ``"true"``): the
    form the build's cache keys and history have always used."""
    out: dict[str, list[str]] = {}
    for token in written:
        if token == "--":
            break
        name, has_value, value = token[2:].partition("=")
        out.setdefault(name, []).append(value if has_value else "true")
    return out


def _suggestion(name: str, accepted: Mapping[str, FlagKind]) -> str | None:
    if not accepted:
        return "it takes no flags"
    close = difflib.get_close_matches(name, list(accepted), n=1, cutoff=0.6)
    if close:
        return f"did you mean --{close[0]}?"
    return "it takes: " + ", ".join(f"--{known}" for known in sorted(accepted))

"""Stand-in until the interpolation module lands (same API): ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``$$``."""

from __future__ import annotations

import re
from collections.abc import Callable

from cove.errors import InvalidArgument


class InterpolationError(InvalidArgument):
    pass


_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def substitute(template: str, lookup: Callable[[str], str | None]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        value = lookup(m.group(2) or m.group(4))
        return value if value is not None else (m.group(3) or "")

    return _VAR.sub(one, template)


def interpolate(
    value: object, lookup: Callable[[str], str | None], *, path: tuple[str | int, ...] = ()
) -> object:
    if isinstance(value, str):
        return substitute(value, lookup)
    if isinstance(value, dict):
        return {k: interpolate(v, lookup, path=(*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, lookup, path=(*path, i)) for i, v in enumerate(value)]
    return value

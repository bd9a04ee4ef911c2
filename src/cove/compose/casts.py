"""Typed values written as strings: ``replicas: ${N}`` is the integer N once interpolated.

Interpolation makes strings, and the schema wants numbers and booleans at some keys; compose-go
casts every string at those keys (its loader's table, which this one follows) right after
interpolation, before the schema sees the document. :func:`cast_typed` does the same to an
interpolated document (rooted at the top level: ``services``, ``networks``...). A string that
is no integer, number or boolean is an error naming the key path; other values are left as
they are (the schema judges them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from cove.compose.errors import format_path
from cove.compose.interpolation import InterpolationError
from cove.compose.tree import KeyPath, map_strings

Warn = Callable[[str], None]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "y", "yes", "on"})
_FALSE = frozenset({"false", "n", "no", "off"})
_INT64 = 1 << 63


def _integer(text: str, warn: Warn | None) -> int:
    if _INTEGER.fullmatch(text) is None or not -_INT64 <= int(text) < _INT64:
        raise ValueError(f"invalid integer {json.dumps(text, ensure_ascii=False)}")
    return int(text)


def _number(text: str, warn: Warn | None) -> float:
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"invalid number {json.dumps(text, ensure_ascii=False)}")
    return float(text)


def _boolean(text: str, warn: Warn | None) -> bool:
    lowered = text.lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"invalid boolean {json.dumps(text, ensure_ascii=False)}")
    if lowered not in ("true", "false") and warn is not None:
        spelled = "true" if lowered in _TRUE else "false"
        warn(f"{json.dumps(text)} for a boolean is not YAML 1.2: write {spelled}")
    return lowered in _TRUE


_Cast = Callable[[str, "Warn | None"], object]

# "*": any key or list index; "[]": a list index.
_SERVICE: list[tuple[tuple[str, ...], _Cast]] = [
    (("cpu_count",), _integer),
    (("cpu_percent",), _number),
    (("cpu_period",), _integer),
    (("cpu_quota",), _integer),
    (("cpu_rt_period",), _integer),
    (("cpu_rt_runtime",), _integer),
    (("cpus",), _number),
    (("cpu_shares",), _integer),
    (("init",), _boolean),
    (("depends_on", "*", "required"), _boolean),
    (("depends_on", "*", "restart"), _boolean),
    (("deploy", "replicas"), _integer),
    (("deploy", "update_config", "parallelism"), _integer),
    (("deploy", "update_config", "max_failure_ratio"), _number),
    (("deploy", "rollback_config", "parallelism"), _integer),
    (("deploy", "rollback_config", "max_failure_ratio"), _number),
    (("deploy", "restart_policy", "max_attempts"), _integer),
    (("deploy", "placement", "max_replicas_per_node"), _integer),
    (("healthcheck", "retries"), _integer),
    (("healthcheck", "disable"), _boolean),
    (("oom_kill_disable",), _boolean),
    (("oom_score_adj",), _integer),
    (("pids_limit",), _integer),
    (("ports", "[]", "target"), _integer),
    (("privileged",), _boolean),
    (("read_only",), _boolean),
    (("scale",), _integer),
    (("stdin_open",), _boolean),
    (("tty",), _boolean),
    (("ulimits", "*"), _integer),
    (("ulimits", "*", "hard"), _integer),
    (("ulimits", "*", "soft"), _integer),
    (("volumes", "[]", "read_only"), _boolean),
    (("volumes", "[]", "volume", "nocopy"), _boolean),
]
CASTS: tuple[tuple[tuple[str, ...], _Cast], ...] = (
    *((("services", "*", *path), cast) for path, cast in _SERVICE),
    *(
        ((top, "*", key), _boolean)
        for top, key in [
            ("networks", "external"),
            ("networks", "internal"),
            ("networks", "attachable"),
            ("networks", "enable_ipv4"),
            ("networks", "enable_ipv6"),
            ("volumes", "external"),
            ("secrets", "external"),
            ("configs", "external"),
        ]
    ),
)


_DEEPEST = max(len(pattern) for pattern, _ in CASTS)


def _matches(path: list[str | int], pattern: tuple[str, ...]) -> bool:
    if len(path) != len(pattern):
        return False
    for part, want in zip(path, pattern, strict=True):
        if want == "*" or (want == "[]" and isinstance(part, int)):
            continue
        if isinstance(part, int) or part != want:
            return False
    return True


def _cast_for(path: list[str | int]) -> _Cast | None:
    return next((cast for pattern, cast in CASTS if _matches(path, pattern)), None)


def cast_typed(document: object, *, path: tuple[str | int, ...] = (), warn: Warn | None = None) -> object:
    """``document`` (found at ``path``) with the strings at typed keys made integers, numbers, booleans."""

    def leaf(value: str, at: KeyPath) -> object:
        cast = _cast_for(at)
        if cast is None:
            return value
        try:
            return cast(value, warn)
        except ValueError as err:
            raise InterpolationError(f"{format_path(tuple(at))}: {err}") from None

    # (no typed key is deeper than the deepest pattern: what is below is kept as it is)
    return map_strings(document, list(path), leaf, lambda at: len(at) <= _DEEPEST)

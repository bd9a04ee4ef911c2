"""Docker's ``--filter key=value`` semantics shared by the list and prune services."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

from cove.errors import InvalidArgument
from cove.oci.timestamps import parse_rfc3339


def check_filters(filters: Mapping[str, list[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(
                f"invalid filter {key!r}", hint=f"filters here: {', '.join(sorted(allowed))}"
            )


def parse_bool_filter(key: str, values: list[str]) -> bool:
    wanted = {v.lower() for v in values}
    if not wanted <= {"true", "false", "1", "0"} or len(wanted) > 1:
        raise InvalidArgument(f"invalid filter '{key}={','.join(values)}': use true or false")
    return wanted.pop() in ("true", "1")


def labels_match(labels: Mapping[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def parse_until(value: str) -> float:
    """``until`` as Docker takes it: a timestamp, an RFC 3339 date or a duration ago (10m, 2h)."""
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(value[:-1]) * units[value[-1]]
    with contextlib.suppress(ValueError):
        return float(value)
    moment = parse_rfc3339(value)
    if moment is None:
        raise InvalidArgument(f"invalid until filter {value!r}", hint="use a duration (24h) or a date")
    return moment.timestamp()

"""Sizes and durations as Docker prints them (go-units: HumanSize, HumanDuration)."""

from __future__ import annotations

import time

from cove.oci.timestamps import parse_rfc3339

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(value: float, precision: int) -> str:
    # Go's %.Ng drops trailing zeros as Python's does
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    """``4.26MB``: decimal units, ``precision`` significant digits (docker images)."""
    unit = 0
    while size >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000
        unit += 1
    return _go_g(size, precision) + _DECIMAL_UNITS[unit]


def bytes_size(size: float) -> str:
    """``23.5GiB``: binary units (docker info's Total Memory)."""
    unit = 0
    while size >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return _go_g(size, 4) + _BINARY_UNITS[unit]


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def since(text: str | None, now: float | None = None) -> str:
    """``2 weeks ago`` for an RFC 3339 time; "N/A" when unknown."""
    moment = parse_rfc3339(text)
    if moment is None:
        return "N/A"
    now = time.time() if now is None else now
    return human_duration(now - moment.timestamp()) + " ago"


def local_time(text: str | None) -> str:
    """Go's time.String() in local time: ``2024-05-01 10:00:00 +0200 CEST``."""
    moment = parse_rfc3339(text)
    if moment is None:
        return ""
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z %Z")

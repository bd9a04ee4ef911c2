"""Parsing the units users write: sizes (512m), durations (1m30s), signals (SIGTERM, 15)."""

from __future__ import annotations

import re
import signal

from cove.errors import InvalidArgument

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?b)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
# Go takes "5.s" and ".5s" (digits on either side of the point), and both micro signs.
_DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0
}  # fmt: skip
# Docker's Linux signal table (moby/sys/signal) names real-time signals from fixed numbers.
_SIGRTMIN = 34
_SIGRTMAX = 64
_REALTIME = re.compile(r"RT(MIN|MAX)(?:([+-])(\d+))?")


def parse_bytes(text: str, what: str = "size") -> int:
    """Docker's RAMInBytes: 512, 512k, 1.5g, 2GiB (binary units)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise InvalidArgument(
            f"invalid {what}: {text!r}", hint="use a number with an optional unit: 512m, 2g"
        )
    number, unit, _ = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.lower()])


def parse_duration(text: str, what: str = "duration") -> float:
    """Go's time.ParseDuration: 30s, 1m30s, 500ms, 1.5h (seconds)."""
    text = text.strip()
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise InvalidArgument(
            f"invalid {what}: {text!r}", hint="use a Go duration such as 30s, 1m30s or 500ms"
        )
    return total


def parse_signal(text: str | int) -> int:
    """SIGTERM, TERM, term or 15 -> 15; RTMIN+3 or SIGRTMAX-1 as Docker numbers them."""
    if isinstance(text, int):
        return text
    value = text.strip().upper()
    if value.isdigit():
        number = int(value)
        if not 0 < number < signal.NSIG:
            raise InvalidArgument(f"invalid signal: {text}")
        return number
    name = value.removeprefix("SIG")
    found = _realtime_signal(name) if name.startswith("RT") else _named_signal(name)
    if found is None:
        raise InvalidArgument(f"invalid signal: {text}", hint="use a name such as SIGTERM or a number")
    return found


def _named_signal(name: str) -> int | None:
    try:
        return int(signal.Signals["SIG" + name])
    except KeyError:
        return None


def _realtime_signal(name: str) -> int | None:
    """RTMIN, RTMIN+1..RTMIN+15, RTMAX-14..RTMAX-1, RTMAX: the names in Docker's table."""
    match = _REALTIME.fullmatch(name)
    if match is None:
        return None
    end, sign, offset = match.groups()
    if sign is None:
        return _SIGRTMIN if end == "MIN" else _SIGRTMAX
    if (end, sign) == ("MIN", "+") and 1 <= int(offset) <= 15:
        return _SIGRTMIN + int(offset)
    if (end, sign) == ("MAX", "-") and 1 <= int(offset) <= 14:
        return _SIGRTMAX - int(offset)
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)

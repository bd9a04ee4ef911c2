"""RFC 3339 times as image configs carry them (often with nanoseconds)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?$")


def parse_rfc3339(text: str | None) -> datetime | None:
    """The moment ``text`` names, or None when it is missing or not RFC 3339."""
    if not text:
        return None
    match = _RFC3339.match(text.strip())
    if not match:
        return None
    date, clock, frac, zone = match.groups()
    micro = (frac or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}")
    except ValueError:
        return None


def timestamp(text: str | None) -> float:
    """Seconds since the epoch, 0 when unknown."""
    moment = parse_rfc3339(text)
    return moment.timestamp() if moment else 0.0


def format_rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

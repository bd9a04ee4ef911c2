"""``--change`` instructions (as ``docker import`` and ``docker commit`` take them).

Each change is one Dockerfile instruction that only edits the image config: CMD,
ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from typing import Any

from cove.errors import InvalidArgument
from cove.units import parse_duration

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def _words(text: str, change: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise InvalidArgument(f"--change {change!r}: {exc}") from None


def _command(rest: str, change: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    if not rest:
        raise InvalidArgument(f"--change {change!r}: needs a command")
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, change: str, keyword: str) -> list[tuple[str, str]]:
    words = _words(rest, change)
    if keyword == "ENV" and words and "=" not in words[0]:
        # The old form: ENV KEY value with spaces
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidArgument(f"--change {change!r}: ENV needs a value")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"--change {change!r}: {keyword} takes KEY=VALUE pairs, not {word!r}")
        pairs.append((key, value))
    if not pairs:
        raise InvalidArgument(f"--change {change!r}: {keyword} needs at least one KEY=VALUE")
    return pairs


_HEALTH_DURATIONS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def healthcheck(rest: str, change: str) -> dict[str, Any]:
    """HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
    [--retries=N] CMD command | NONE, as the image config's Healthcheck (durations in ns)."""
    out: dict[str, Any] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.strip()
        name, eq, value = flag[2:].partition("=")
        if not eq:
            raise InvalidArgument(f"--change {change!r}: {flag} needs a value ({flag}=VALUE)")
        if name in _HEALTH_DURATIONS:
            out[_HEALTH_DURATIONS[name]] = round(parse_duration(value, f"HEALTHCHECK {flag}") * 1e9)
        elif name == "retries" and value.isdigit():
            out["Retries"] = int(value)
        else:
            raise InvalidArgument(f"--change {change!r}: unknown or invalid HEALTHCHECK option {flag}")
    kind, _, command = rest.partition(" ")
    if kind.upper() == "NONE" and not command.strip():
        return {"Test": ["NONE"]}
    if kind.upper() != "CMD":
        raise InvalidArgument(f"--change {change!r}: HEALTHCHECK takes CMD command or NONE")
    command = command.strip()
    test = ["CMD", *_command(command, change)] if command.startswith("[") else ["CMD-SHELL", command]
    return {"Test": test, **out}


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of the container ``config`` (the image config's "config" object) with ``changes``."""
    out = copy.deepcopy(config)
    for change in changes:
        keyword, _, rest = change.strip().partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword not in ALLOWED:
            raise InvalidArgument(
                f"--change {change!r}: {keyword or 'empty'} is not a change an image can take",
                hint=f"use one of: {', '.join(ALLOWED)}",
            )
        if keyword == "CMD":
            out["Cmd"] = _command(rest, change)
        elif keyword == "ENTRYPOINT":
            out["Entrypoint"] = _command(rest, change)
        elif keyword == "ENV":
            env = list(out.get("Env") or [])
            for key, value in _pairs(rest, change, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            out["Env"] = env
        elif keyword == "HEALTHCHECK":
            out["Healthcheck"] = healthcheck(rest, change)
        elif keyword == "LABEL":
            labels = dict(out.get("Labels") or {})
            labels.update(_pairs(rest, change, "LABEL"))
            out["Labels"] = labels
        elif keyword == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for word in _words(rest, change):
                match = _PORT.match(word)
                if not match:
                    raise InvalidArgument(f"--change {change!r}: invalid port {word!r}")
                low = int(match.group(1))
                high = int(match.group(2) or low)
                proto = (match.group(3) or "tcp").lower()
                if not 0 < low <= high <= 65535:
                    raise InvalidArgument(f"--change {change!r}: invalid port range {word!r}")
                for port in range(low, high + 1):
                    ports[f"{port}/{proto}"] = {}
            out["ExposedPorts"] = ports
        elif keyword == "VOLUME":
            paths = _command(rest, change) if rest.startswith("[") else _words(rest, change)
            if rest.startswith("[") and paths[:2] == ["/bin/sh", "-c"]:
                raise InvalidArgument(f"--change {change!r}: VOLUME needs a JSON list or paths")
            volumes = dict(out.get("Volumes") or {})
            volumes.update({p: {} for p in paths})
            out["Volumes"] = volumes
        elif keyword == "ONBUILD":
            if not rest:
                raise InvalidArgument(f"--change {change!r}: ONBUILD needs an instruction")
            out["OnBuild"] = [*(out.get("OnBuild") or []), rest]
        else:  # USER, WORKDIR, STOPSIGNAL: one value
            if not rest:
                raise InvalidArgument(f"--change {change!r}: {keyword} needs a value")
            key = {"USER": "User", "WORKDIR": "WorkingDir", "STOPSIGNAL": "StopSignal"}[keyword]
            out[key] = rest
    return out

"""Merging compose files by the Compose Specification's rules (learned from compose-go's override/).

Mappings merge key by key and scalars are replaced. Per key: ``command``, ``entrypoint`` and
``healthcheck.test`` are replaced whole; key=value lists (environment, labels, sysctls, build
args...) merge as mappings whichever syntax each side used; ``depends_on`` and ``networks`` merge
as mappings; ``build`` given as a string is its context; ``logging`` merges only when the driver
is the same; other sequences are appended, then entries that name the same thing (a port, a
volume's target, a secret's target...) keep the later one in the earlier one's place (see
``UNIQUE``). ``!reset`` removes a key, ``!override`` replaces without merging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cove.compose.errors import ComposeError
from cove.compose.normalize import as_mapping, parse_volume
from cove.compose.yamlfile import Override, Reset

Path = tuple[str, ...]

_REPLACED = {("services", "*", "command"), ("services", "*", "entrypoint"),
             ("services", "*", "healthcheck", "test"), ("services", "*", "ulimits", "*")}  # fmt: skip
_AS_MAPPING = (
    {
        ("services", "*", k)
        for k in ("environment", "labels", "annotations", "sysctls", "depends_on", "networks", "extra_hosts")
    }
    | {("services", "*", "build", k) for k in ("args", "labels", "additional_contexts")}
    | {
        ("services", "*", "deploy", "labels"),
        ("networks", "*", "labels"),
        ("volumes", "*", "labels"),
    }
)


# A single string is a one-entry sequence at these keys; both sides are appended.
_AS_SEQUENCE = {
    ("services", "*", k) for k in ("env_file", "label_file", "dns", "dns_opt", "dns_search", "tmpfs")
}


def _sequence(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, dict)) else list(value or [])


def _match(path: Path, pattern: Path) -> bool:
    return len(path) == len(pattern) and all(p in ("*", q) for p, q in zip(pattern, path, strict=True))


def merge(base: Any, over: Any, path: Path = ()) -> Any:
    if isinstance(over, Override):
        return strip(over.value)
    if any(_match(path, p) for p in _REPLACED):
        return strip(over)
    if any(_match(path, p) for p in _AS_MAPPING) and over is not None:
        return _merge_mappings(as_mapping(base), as_mapping(over), path)
    if any(_match(path, p) for p in _AS_SEQUENCE) and over is not None:
        return [*_sequence(base), *strip(_sequence(over))]
    if _match(path, ("services", "*", "build")):
        base = {"context": base} if isinstance(base, str) else base
        over = {"context": over} if isinstance(over, str) else over
    if (
        _match(path, ("services", "*", "logging"))
        and isinstance(base, dict)
        and isinstance(over, dict)
        and "driver" in base
        and "driver" in over
        and base["driver"] != over["driver"]
    ):
        return strip(over)
    if over is None:
        return base
    if isinstance(base, dict):
        if not isinstance(over, dict):
            raise ComposeError(f"cannot override {'.'.join(path)}")
        return _merge_mappings(base, over, path)
    if isinstance(base, list):
        if not isinstance(over, list):
            raise ComposeError(f"cannot override {'.'.join(path)}")
        return [*base, *strip(over)]
    return strip(over)


def _merge_mappings(base: dict[str, Any], over: dict[str, Any], path: Path) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        elif key in out:
            out[key] = merge(out[key], value, (*path, key))
        else:
            out[key] = strip(value)
    return out


def strip(value: Any) -> Any:
    """The value with its merge markers applied as if merged onto nothing."""
    if isinstance(value, Override):
        return strip(value.value)
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip(v) for v in value if not isinstance(v, Reset)]
    return None if isinstance(value, Reset) else value


def _mount_key(default_dir: str) -> Callable[[Any], str]:
    def key(entry: Any) -> str:
        if isinstance(entry, dict):
            return str(entry.get("target") or f"{default_dir}/{entry.get('source')}")
        return f"{default_dir}/{entry}"

    return key


def _volume_key(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    try:
        return str(parse_volume(str(entry)).get("target"))
    except ComposeError:  # said with the file and key path when the volume is normalised
        return str(entry)


def _port_key(entry: Any) -> str:
    if isinstance(entry, dict):
        return (f"{entry.get('host_ip', '0.0.0.0')}:{entry.get('published')}:{entry.get('target')}"
                f"/{entry.get('protocol', 'tcp')}")  # fmt: skip
    return str(entry)


def _env_file_key(entry: Any) -> str:  # (a single file given as a string is no sequence)
    return str(entry.get("path")) if isinstance(entry, dict) else str(entry)


def _device_key(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _plain(entry: Any) -> str:
    return str(entry).partition("=")[0] if isinstance(entry, str) else str(entry)


UNIQUE: dict[Path, Callable[[Any], str]] = {
    ("services", "*", "ports"): _port_key,
    ("services", "*", "volumes"): _volume_key,
    ("services", "*", "secrets"): _mount_key("/run/secrets"),
    ("services", "*", "configs"): _mount_key(""),
    ("services", "*", "devices"): _device_key,
    ("services", "*", "env_file"): _env_file_key,
    **{("services", "*", k): _plain for k in ("expose", "dns", "dns_opt", "dns_search", "cap_add",
                                              "cap_drop", "links", "profiles", "tmpfs", "external_links")},
    ("services", "*", "networks", "*", "aliases"): _plain,
}  # fmt: skip


def enforce_unicity(value: Any, path: Path = ()) -> Any:
    """Entries of a sequence that name the same thing: the later one, in the earlier one's place."""
    if isinstance(value, dict):
        return {k: enforce_unicity(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        for pattern, key_of in UNIQUE.items():
            if _match(path, pattern):
                out: list[Any] = []
                seen: dict[str, int] = {}
                for entry in value:
                    key = key_of(entry)
                    if key in seen:
                        out[seen[key]] = entry
                    else:
                        seen[key] = len(out)
                        out.append(entry)
                return out
    return value

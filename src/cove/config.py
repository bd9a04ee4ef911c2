"""Engine configuration: one frozen object built at start-up and passed down.

Sources, lowest priority first: built-in defaults, the TOML file (``COVE_CONFIG``, else
``/etc/cove/cove.toml`` when it exists), then the environment (``COVE_ROOT``,
``COVE_RUNTIME_DIR``, ``COVE_STORAGE_DRIVER``). Engines with different roots and runtime
directories run side by side on one host.

Example file::

    root = "/var/lib/cove"
    runtime_dir = "/run/cove"

    [storage]
    driver = "auto"        # auto | overlayfs | copy

    [images]
    unpack_workers = 0     # 0: one per CPU

    [runtime]
    name = "runc"          # default: detected (crun where it works, else runc)

    [network]
    firewall = "auto"                  # nftables where there is nft, else iptables

    [registry]
    insecure = ["registry.lan:5000"]   # HTTP or unverified TLS (loopback always is)
    mirrors = ["https://mirror.lan"]   # tried before Docker Hub, for docker.io images
    certs_dir = "/etc/cove/certs.d"    # HOST:PORT/ca.crt, client.cert, client.key
    max_concurrent_downloads = 3
    max_concurrent_uploads = 5
    upload_chunk_size = 0              # bytes per PATCH; 0: each blob in one PUT
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.errors import InvalidArgument

DEFAULT_ROOT = Path("/var/lib/cove")
DEFAULT_RUNTIME_DIR = Path("/run/cove")
DEFAULT_CONFIG_FILE = Path("/etc/cove/cove.toml")
DEFAULT_CERTS_DIR = Path("/etc/cove/certs.d")
STORAGE_DRIVERS = ("auto", "overlayfs", "copy")


@dataclass(frozen=True)
class EngineConfig:
    root: Path = DEFAULT_ROOT
    runtime_dir: Path = DEFAULT_RUNTIME_DIR
    storage_driver: str = "auto"
    unpack_workers: int = 0
    runtime: str | None = None  # an OCI runtime name or path; None: detect (crun, else runc)
    config_file: Path | None = None
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    certs_dir: Path = DEFAULT_CERTS_DIR
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    upload_chunk_size: int = 0
    firewall: str = "auto"  # auto (nftables where there is nft, else iptables), nftables, iptables

    def workers(self) -> int:
        return self.unpack_workers or max(1, os.cpu_count() or 1)


# Keys the file may hold: section -> key -> (config field, type).
_FILE_SCHEMA: dict[str | None, dict[str, tuple[str, type]]] = {
    None: {"root": ("root", str), "runtime_dir": ("runtime_dir", str)},
    "storage": {"driver": ("storage_driver", str)},
    "images": {"unpack_workers": ("unpack_workers", int)},
    "runtime": {"name": ("runtime", str)},
    "network": {"firewall": ("firewall", str)},
    "registry": {
        "insecure": ("insecure_registries", list),
        "mirrors": ("registry_mirrors", list),
        "certs_dir": ("certs_dir", str),
        "max_concurrent_downloads": ("max_concurrent_downloads", int),
        "max_concurrent_uploads": ("max_concurrent_uploads", int),
        "upload_chunk_size": ("upload_chunk_size", int),
    },
}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgument(f"cannot read config file {path}: {exc.strerror}") from exc
    if not text.strip():
        return {}
    import tomllib  # only when there is something to parse: it costs start-up time

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"config file {path} is not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in data.items():
        section: str | None = None
        items: list[tuple[str, Any]] = [(key, value)]
        if isinstance(value, dict) and key in _FILE_SCHEMA:
            section, items = key, list(value.items())
        for name, item in items:
            spec = _FILE_SCHEMA.get(section, {}).get(name)
            where = f"{section}.{name}" if section else name
            if spec is None:
                raise InvalidArgument(f"config file {path}: unknown setting {where!r}")
            field_name, kind = spec
            if not isinstance(item, kind) or isinstance(item, bool):
                raise InvalidArgument(f"config file {path}: {where} must be a {kind.__name__}, not {item!r}")
            if isinstance(item, list):
                if not all(isinstance(x, str) for x in item):
                    raise InvalidArgument(f"config file {path}: {where} must be a list of strings")
                values[field_name] = tuple(item)
            else:
                values[field_name] = item
    return values


def load_config(env: Mapping[str, str] | None = None) -> EngineConfig:
    """Build the engine configuration from defaults, the config file and ``env``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_file: Path | None = None
    if env.get("COVE_CONFIG"):
        config_file = Path(env["COVE_CONFIG"])
        if not config_file.exists():
            raise InvalidArgument(f"config file {config_file} (from COVE_CONFIG) does not exist")
    elif DEFAULT_CONFIG_FILE.exists():
        config_file = DEFAULT_CONFIG_FILE
    if config_file is not None:
        values.update(_from_file(config_file))
    if env.get("COVE_ROOT"):
        values["root"] = env["COVE_ROOT"]
    if env.get("COVE_RUNTIME_DIR"):
        values["runtime_dir"] = env["COVE_RUNTIME_DIR"]
    if env.get("COVE_STORAGE_DRIVER"):
        values["storage_driver"] = env["COVE_STORAGE_DRIVER"]
    if env.get("COVE_RUNTIME"):
        values["runtime"] = env["COVE_RUNTIME"]
    driver = values.get("storage_driver", "auto")
    if driver not in STORAGE_DRIVERS:
        raise InvalidArgument(
            f"unknown storage driver {driver!r}", hint=f"use one of: {', '.join(STORAGE_DRIVERS)}"
        )
    for key in ("root", "runtime_dir", "certs_dir"):
        if key in values:
            path = Path(values[key])
            if not path.is_absolute():
                raise InvalidArgument(f"{key} must be an absolute path, not {str(path)!r}")
            values[key] = path
    if values.get("unpack_workers", 0) < 0:
        raise InvalidArgument("images.unpack_workers must be 0 (auto) or more")
    for key in ("max_concurrent_downloads", "max_concurrent_uploads"):
        if values.get(key, 1) < 1:
            raise InvalidArgument(f"registry.{key} must be 1 or more")
    if values.get("firewall", "auto") not in ("auto", "nftables", "iptables"):
        raise InvalidArgument("network.firewall must be auto, nftables or iptables")
    if values.get("upload_chunk_size", 0) < 0:
        raise InvalidArgument("registry.upload_chunk_size must be 0 (automatic) or more bytes")
    return EngineConfig(config_file=config_file, **values)


def docker_config_dir(env: Mapping[str, str]) -> Path:
    """Where Docker's client keeps its config.json (logins, credential helpers): ``DOCKER_CONFIG``,
    else ``~/.docker``. Every front-end that logs in, pulls or pushes for a user reads it."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".docker"

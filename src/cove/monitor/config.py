"""What a monitor is told about its container (``monitor.json``), checked when it is loaded.

cove writes it before it starts the monitor, and every monitor of the container (a
restarted one, the lean process a forked one becomes) reads it again: a field of the wrong
type or out of bounds is refused with the field's name, before anything is started.
"""

from __future__ import annotations

import json
import math
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cove.errors import CoveError
from cove.monitor.protocol import TtySize
from cove.policies import RestartPolicy
from cove.runtime.oci import RuntimeInfo

MAX_CONFIG = 1 << 20


class ConfigError(ValueError):
    """The monitor's configuration is not one cove wrote."""


@dataclass(frozen=True)
class LogConfig:
    path: str
    max_size: int
    max_files: int


@dataclass(frozen=True)
class ProbeConfig:
    """The container's health check (containers.model.HealthConfig, merged over the image's)."""

    test: list[str]
    interval: float = 0.0  # seconds; 0: the default
    timeout: float = 0.0
    retries: int = 0
    start_period: float = 0.0
    start_interval: float = 0.0


@dataclass(frozen=True)
class MonitorConfig:
    id: str
    container_dir: str
    bundle: str
    rootfs: str
    runtime: RuntimeInfo
    runtime_root: str
    socket: str
    log: LogConfig
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stop_signal: int = int(signal.SIGTERM)
    stop_timeout: float = 10.0
    cgroups_path: str = ""
    health: ProbeConfig | None = None
    hold_output: bool = False  # keep output unread until the first client attaches (or a while)
    tty_size: TtySize | None = None
    auto_remove_argv: list[str] | None = None  # --rm: what the monitor becomes when nobody removes it
    auto_remove_env: dict[str, str] = field(default_factory=dict)
    shed_after: float | None = None  # seconds of running before a forked monitor becomes a lean one
    config_path: str = ""  # where this was written (the lean process reads it again)

    @property
    def directory(self) -> Path:
        return Path(self.container_dir)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["runtime"] = self.runtime._asdict()
        data["restart"] = self.restart.to_json()
        data["tty_size"] = self.tty_size.to_json() if self.tty_size else None
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> MonitorConfig:
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_CONFIG + 1)
            data = json.loads(raw) if len(raw) <= MAX_CONFIG else None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the monitor's configuration {path}: {exc}") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> MonitorConfig:
        r = _Fields(data, "config")
        runtime = _Fields(r.raw("runtime"), "runtime")
        log = _Fields(r.raw("log"), "log")
        size = r.raw("tty_size", None)
        try:
            tty_size = TtySize.from_json(size) if size is not None else None
        except ValueError as exc:
            raise ConfigError(f"monitor config: {exc}") from None
        try:
            restart = RestartPolicy.from_json(r.raw("restart", {}) or {})
        except CoveError as exc:
            raise ConfigError(f"monitor config: {exc.message}") from None
        argv = r.raw("auto_remove_argv", None)
        if argv is not None and (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)):
            raise ConfigError("monitor config: auto_remove_argv is a list of strings")
        env = r.raw("auto_remove_env", {}) or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ConfigError("monitor config: auto_remove_env maps names to strings")
        stop_signal = r.integer("stop_signal", int(signal.SIGTERM), 1, 64)
        return cls(
            id=r.text("id"),
            container_dir=r.text("container_dir"),
            bundle=r.text("bundle"),
            rootfs=r.text("rootfs"),
            runtime=RuntimeInfo(runtime.text("name"), runtime.text("path"), runtime.text("version", "")),
            runtime_root=r.text("runtime_root"),
            socket=r.text("socket"),
            log=LogConfig(log.text("path"), log.integer("max_size", 0, 0), log.integer("max_files", 1, 1)),
            tty=r.flag("tty"),
            stdin=r.flag("stdin"),
            stdin_once=r.flag("stdin_once"),
            restart=restart,
            stop_signal=stop_signal,
            stop_timeout=r.number("stop_timeout", 10.0) or 0.0,
            cgroups_path=r.text("cgroups_path", ""),
            health=_probe(r.raw("health", None)),
            hold_output=r.flag("hold_output"),
            tty_size=tty_size,
            auto_remove_argv=list(argv) if argv is not None else None,
            auto_remove_env=dict(env),
            shed_after=r.number("shed_after", None),
            config_path=r.text("config_path", ""),
        )


def _probe(data: Any) -> ProbeConfig | None:
    if data is None:
        return None
    h = _Fields(data, "health")
    test = h.raw("test", [])
    if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
        raise ConfigError("monitor config: health.test is a list of strings")
    return ProbeConfig(
        test=list(test),
        interval=h.number("interval", 0.0) or 0.0,
        timeout=h.number("timeout", 0.0) or 0.0,
        retries=h.integer("retries", 0, 0),
        start_period=h.number("start_period", 0.0) or 0.0,
        start_interval=h.number("start_interval", 0.0) or 0.0,
    )


_MISSING = object()


class _Fields:
    """Typed reads of one JSON object, each failure naming its field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"monitor config: {where} is not an object")
        self.data = data
        self.where = where

    def _fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"monitor config: {self.where}.{key} is {what}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self._fail(key, "missing")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "not a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._fail(key, "not true or false")
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int = 1 << 62) -> int:
        value = self.raw(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self._fail(key, f"not an integer from {minimum} to {maximum}")
        return value

    def number(self, key: str, default: float | None) -> float | None:
        value = self.raw(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "not a number")
        if not math.isfinite(value) or value < 0:
            raise self._fail(key, "not a finite number of seconds")
        return float(value)

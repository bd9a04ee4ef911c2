"""The one place each short syntax becomes its long form, as ``docker compose config`` prints it.

Input is the merged, validated tree of one project; output is the canonical tree: ports,
volumes, secrets and configs in long syntax, key=value lists as mappings, commands as argv
lists, sizes in bytes, relative paths made absolute against the project directory, resources
named ``<project>_<key>``. Nothing here reads a file except ``env_file`` (through ``read_env``).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cove.compose.errors import ComposeError
from cove.errors import InvalidArgument
from cove.units import parse_bytes, parse_duration

_SIZE_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")


def parse_size(value: Any, where: str) -> int:
    """Bytes from ``512m`` / ``1.5g`` / a number (Docker's binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_bytes(str(value).lower().removesuffix("b") or "x")
    except InvalidArgument:
        raise ComposeError(f'{where}: invalid size "{value}"') from None


def go_duration(seconds: float) -> str:
    """Seconds as Go's time.Duration prints them (``1m0s``, ``1.5s``, ``500ms``, ``2h0m0s``)."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{sign}{_decimal(nanos, size)}{unit}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_decimal(rest, 1_000_000_000)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def parse_seconds(value: Any, where: str) -> float:
    """Seconds from a Go duration (``1m30s``, ``500ms``)."""
    try:
        return parse_duration(str(value))
    except InvalidArgument:
        raise ComposeError(f'{where}: invalid duration "{value}"') from None


def as_mapping(value: Any, *, separator: str = "=") -> dict[str, Any]:
    """A key=value list (or a mapping) as a mapping; a bare ``KEY`` maps to None."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):  # depends_on / networks never hold these; kept as given
                out.update(item)
                continue
            key, sep, rest = str(item).partition(separator)
            if not sep and separator == "=" and ":" in key:  # extra_hosts "host:ip"
                key, sep, rest = key.partition(":")
            out[key] = rest if sep else None
        return out
    return {} if value is None else {str(value): None}


def scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _split_ip(text: str) -> tuple[str, str]:
    """``[::1]:8080:80`` -> ("::1", "8080:80"); ``127.0.0.1:8080:80`` -> ("127.0.0.1", "8080:80")."""
    if text.startswith("["):
        ip, _, rest = text[1:].partition("]:")
        return ip, rest
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], ":".join(parts[1:])
    return "", text


def _range(text: str, where: str, spec: str) -> list[int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not m:
        raise ComposeError(f'{where}: invalid port "{spec}"')
    low, high = int(m.group(1)), int(m.group(2) or m.group(1))
    if high < low or high > 65535:
        raise ComposeError(f'{where}: invalid port "{spec}"')
    return list(range(low, high + 1))


def parse_port(value: Any, where: str) -> list[dict[str, Any]]:
    """One short-syntax port (``[ip:][published:]target[/protocol]``, ranges) as long entries."""
    spec = str(value)
    body, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    ip, rest = _split_ip(body)
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ComposeError(f'{where}: invalid port "{spec}"') from None
    parts = rest.split(":")
    if len(parts) > 2 or (ip and len(parts) != 2):
        raise ComposeError(f'{where}: invalid port "{spec}"')
    published_text, target_text = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    targets = _range(target_text, where, spec)
    published = _range(published_text, where, spec) if published_text else []
    out: list[dict[str, Any]] = []
    for i, target in enumerate(targets):
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = target
        if published:
            if len(published) == len(targets):
                entry["published"] = str(published[i])
            elif len(targets) == 1:
                entry["published"] = f"{published[0]}-{published[-1]}"
            else:
                raise ComposeError(f'{where}: invalid port "{spec}"')
        entry["protocol"] = protocol
        out.append(entry)
    return out


def _long_port(value: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for key in ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"):
        if key in value:
            entry[key] = value[key]
    entry.setdefault("mode", "ingress")
    entry.setdefault("protocol", "tcp")
    if "published" in entry:
        entry["published"] = str(entry["published"])
    order = ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol")
    return {k: entry[k] for k in order if k in entry}


_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private",
                 "rprivate", "cached", "delegated", "consistent"}  # fmt: skip


def parse_volume(spec: str, where: str = "volume") -> dict[str, Any]:
    """``[source:]target[:mode,...]`` as a long-syntax entry (source unresolved)."""
    parts = spec.split(":")
    if len(parts) > 3 or not spec:
        raise ComposeError(f'{where}: invalid volume "{spec}"')
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "volume": {}}
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    for mode in modes:
        if mode not in _VOLUME_MODES:
            raise ComposeError(f'{where}: invalid volume "{spec}": unknown mode "{mode}"')
    is_path = source.startswith((".", "/", "~")) or "/" in source
    entry: dict[str, Any] = {"type": "bind" if is_path else "volume", "source": source, "target": target}
    if "ro" in modes:
        entry["read_only"] = True
    if is_path:
        bind: dict[str, Any] = {}
        selinux = next((m for m in modes if m in ("z", "Z")), None)
        if selinux:
            bind["selinux"] = selinux
        propagation = next((m for m in modes if m.endswith(("shared", "slave", "private"))), None)
        if propagation:
            bind["propagation"] = propagation
        entry["bind"] = bind
    else:
        entry["volume"] = {"nocopy": True} if "nocopy" in modes else {}
    return entry


def _abs(path: str, base: Path) -> str:
    if path.startswith("~"):
        return str(Path(path).expanduser())
    p = Path(path)
    return str(p if p.is_absolute() else (base / p).resolve())


def _octal(mode: Any, where: str) -> str:
    """A file mode as Compose prints it (``"0440"``); given as an integer or an octal string."""
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            raise ComposeError(f'{where}: invalid mode "{mode}"') from None
    return f"0{int(mode):o}"


_OMITTED_WHEN_FALSE = ("privileged", "read_only", "stdin_open", "tty", "oom_kill_disable")


def _device(value: Any, where: str) -> dict[str, Any]:
    """``source[:target[:permissions]]`` (or the long form) as the long form."""
    if isinstance(value, dict):
        entry = dict(value)
    else:
        parts = str(value).split(":")
        if len(parts) > 3 or not parts[0]:
            raise ComposeError(f'{where}: invalid device "{value}"')
        entry = {"source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0]}
        if len(parts) == 3:
            entry["permissions"] = parts[2]
    entry.setdefault("target", entry.get("source"))
    entry.setdefault("permissions", "rwm")
    return {k: entry[k] for k in ("source", "target", "permissions") if k in entry}


def _mounts(value: list[Any], default_dir: str | None, where: str) -> list[dict[str, Any]]:
    """Secret and config references; a secret's target defaults to /run/secrets/<source>."""
    out = []
    for i, item in enumerate(value):
        entry = {"source": item} if isinstance(item, str) else dict(item)
        if default_dir is not None:
            entry.setdefault("target", f"{default_dir}/{entry['source']}")
        if "mode" in entry:
            entry["mode"] = _octal(entry["mode"], f"{where}[{i}].mode")
        for key in ("uid", "gid"):
            if key in entry:
                entry[key] = str(entry[key])
        out.append({k: entry[k] for k in ("source", "target", "uid", "gid", "mode") if k in entry})
    return out


_WATCH_KEYS = ("path", "action", "target", "exec", "include", "ignore", "initial_sync")
_HOOK_KEYS = ("command", "user", "privileged", "working_dir", "environment")
_TARGETLESS = ("rebuild", "restart")  # the watch actions that copy nothing in


def _develop(value: Any, directory: Path, where: str) -> dict[str, Any]:
    """develop.watch as Compose prints it: absolute paths, lists for patterns, keys in its order
    (extension keys last), ``initial_sync`` only when true, an empty ``watch`` left out."""
    develop = {k: v for k, v in dict(value or {}).items() if k != "watch"}
    rules = []
    for rule in (value or {}).get("watch") or ():
        entry = dict(rule)
        if entry.get("action") not in _TARGETLESS and not entry.get("target"):
            raise ComposeError(f"{where}.develop.watch: target is required for non-rebuild actions")
        entry["path"] = _abs(str(entry["path"]), directory)
        for key in ("include", "ignore"):
            if isinstance(entry.get(key), str):
                entry[key] = [entry[key]]
        if not entry.get("initial_sync"):
            entry.pop("initial_sync", None)
        if "exec" in entry:
            hook = dict(entry["exec"])
            hook["command"] = _command(hook.get("command"))
            if "environment" in hook:
                given = as_mapping(hook["environment"])  # a name without a value stays null
                hook["environment"] = {k: None if v is None else scalar_text(v) for k, v in given.items()}
            if hook.get("privileged") is False:
                del hook["privileged"]
            entry["exec"] = {k: hook[k] for k in (*_HOOK_KEYS, *sorted(hook)) if k in hook}
        rules.append({k: entry[k] for k in (*_WATCH_KEYS, *sorted(entry)) if k in entry})
    if rules:
        develop["watch"] = rules
    return develop


def _command(value: Any) -> Any:
    if isinstance(value, str):
        return shlex.split(value)
    return None if value is None else [str(v) for v in value]


def service(name: str, svc: dict[str, Any], ctx: ServiceContext) -> dict[str, Any]:
    where = f"{ctx.source}: services.{name}"
    out = dict(svc)
    if "build" in out:
        build = {"context": out["build"]} if isinstance(out["build"], str) else dict(out["build"])
        context = str(build.get("context", "."))
        if "://" not in context and not context.startswith("git@"):
            build["context"] = _abs(context, ctx.directory)
        build.setdefault("dockerfile", "Dockerfile")
        for key in ("args", "labels"):
            if key in build:
                build[key] = {k: scalar_text(v) for k, v in as_mapping(build[key]).items()}
        out["build"] = build
    for key in ("command", "entrypoint"):
        if key in out:
            out[key] = _command(out[key])
    if "develop" in out:
        out["develop"] = _develop(out["develop"], ctx.directory, where)
    environment: dict[str, str | None] = {}
    env_files = out.get("env_file") or []
    for item in [env_files] if isinstance(env_files, str) else env_files:
        entry = {"path": item, "required": True} if isinstance(item, str) else dict(item)
        path = Path(_abs(str(entry["path"]), ctx.directory))
        environment.update(ctx.read_env(path, bool(entry.get("required", True))))
    out.pop("env_file", None)
    for key, value in as_mapping(out.get("environment")).items():
        environment[key] = scalar_text(value) if value is not None else ctx.lookup(key)
    if environment or "environment" in out:
        out["environment"] = environment
    for key in ("labels", "annotations", "sysctls", "extra_hosts"):
        if key in out:  # a label given without a value is an empty one
            out[key] = {k: scalar_text(v) or "" for k, v in as_mapping(out[key]).items()}
    if "extra_hosts" in out:
        out["extra_hosts"] = [f"{k}={v}" for k, v in out["extra_hosts"].items()]
    if "stop_grace_period" in out:
        out["stop_grace_period"] = go_duration(
            parse_seconds(out["stop_grace_period"], f"{where}.stop_grace_period")
        )
    for key in _SIZE_KEYS:
        if key in out:
            out[key] = str(parse_size(out[key], f"{where}.{key}"))
    if "ports" in out:
        ports: list[dict[str, Any]] = []
        for i, item in enumerate(out["ports"]):
            if isinstance(item, dict):
                if "target" not in item:
                    raise ComposeError(f"{where}.ports[{i}]: the port is missing a target")
                ports.append(_long_port(item))
            else:
                ports += parse_port(item, f"{where}.ports[{i}]")
        out["ports"] = ports
    if "expose" in out:
        out["expose"] = [str(e) for e in out["expose"]]
    if "volumes" in out:
        volumes = []
        for i, item in enumerate(out["volumes"]):
            entry = parse_volume(item, f"{where}.volumes[{i}]") if isinstance(item, str) else dict(item)
            if not entry.get("target"):
                raise ComposeError(f"{where}.volumes[{i}]: the volume is missing a mount target")
            if entry.get("type") == "bind" and "source" in entry:
                entry["source"] = _abs(str(entry["source"]), ctx.directory)
            if isinstance(entry.get("bind"), dict) and entry["bind"].get("create_host_path") is True:
                entry["bind"] = {k: v for k, v in entry["bind"].items() if k != "create_host_path"}
            order = (
                "type",
                "source",
                "target",
                "read_only",
                "consistency",
                "bind",
                "volume",
                "tmpfs",
                "image",
            )
            volumes.append({k: entry[k] for k in order if k in entry})
        out["volumes"] = volumes
    if "network_mode" not in out and "networks" not in out:
        out["networks"] = {"default": None}
    elif "networks" in out:
        out["networks"] = as_mapping(out["networks"])
    if "depends_on" in out:
        deps = {}
        for dep, given in as_mapping(out["depends_on"]).items():
            spec = dict(given or {})
            entry = {"condition": spec.get("condition", "service_started")}
            if "restart" in spec:
                entry["restart"] = spec["restart"]
            entry["required"] = spec.get("required", True)
            deps[dep] = entry
        out["depends_on"] = deps
    # links, volumes_from and network_mode service: need their service started first: Compose
    # writes them as dependencies that restart with it.
    implied = [str(link).partition(":")[0] for link in out.get("links") or ()]
    implied += [
        str(v).partition(":")[0] for v in out.get("volumes_from") or () if not str(v).startswith("container:")
    ]
    if str(out.get("network_mode") or "").startswith("service:"):
        implied.append(str(out["network_mode"]).removeprefix("service:"))
    for dep in implied:
        deps = out.setdefault("depends_on", {})
        deps.setdefault(dep, {"condition": "service_started", "restart": True, "required": True})
    if "healthcheck" in out:
        check = dict(out["healthcheck"])
        if isinstance(check.get("test"), str):
            check["test"] = ["CMD-SHELL", check["test"]]
        checks = ("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable")
        for key in checks[1:3] + checks[4:6]:
            if key in check:
                check[key] = go_duration(parse_seconds(check[key], f"{where}.healthcheck.{key}"))
        out["healthcheck"] = {k: check[k] for k in checks if k in check}
    for key, default_dir in (("secrets", "/run/secrets"), ("configs", None)):
        if key in out:
            out[key] = _mounts(out[key], default_dir, f"{where}.{key}")
    for key in ("dns", "dns_search", "tmpfs"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if "devices" in out:
        out["devices"] = [_device(d, f"{where}.devices[{i}]") for i, d in enumerate(out["devices"])]
    for key in _OMITTED_WHEN_FALSE:
        if out.get(key) is False:
            del out[key]
    if "deploy" in out and isinstance(out["deploy"].get("resources"), dict):
        deploy = dict(out["deploy"])
        resources = {}
        for side, given_res in deploy["resources"].items():
            res = dict(given_res or {})
            if "memory" in res:
                res["memory"] = str(parse_size(res["memory"], f"{where}.deploy.resources.{side}.memory"))
            if "cpus" in res:
                res["cpus"] = float(res["cpus"])
            resources[side] = res
        deploy["resources"] = resources
        out["deploy"] = deploy
    return {k: out[k] for k in sorted(out, key=ServiceContext.order)}


class ServiceContext:
    """What normalising a service needs from outside it."""

    # The order ``docker compose config`` prints a service's keys in (compose-go's ServiceConfig).
    KEY_ORDER = (
        "profiles annotations attach build develop blkio_config cap_add cap_drop cgroup_parent cgroup "
        "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpus cpuset cpu_shares "
        "command configs container_name credential_spec depends_on deploy device_cgroup_rules devices "
        "dns dns_opt dns_search dockerfile domainname entrypoint provider environment env_file expose "
        "extends external_links extra_hosts group_add gpus hostname healthcheck image init ipc isolation "
        "labels label_file links logging log_driver log_opt mem_limit mem_reservation memswap_limit "
        "mem_swappiness mac_address models net network_mode networks oom_kill_disable oom_score_adj pid "
        "pids_limit platform ports privileged pull_policy read_only restart runtime scale secrets "
        "security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty "
        "ulimits use_api_socket user userns_mode uts volume_driver volumes volumes_from working_dir "
        "pre_start post_start pre_stop"
    ).split()
    _RANK = {k: i for i, k in enumerate(KEY_ORDER)}

    def __init__(
        self,
        source: str,
        directory: Path,
        lookup: Callable[[str], str | None],
        read_env: Callable[[Path, bool], dict[str, str]],
    ) -> None:
        self.source = source
        self.directory = directory
        self.lookup = lookup
        self.read_env = read_env

    @classmethod
    def order(cls, key: str) -> tuple[int, str]:
        return (cls._RANK.get(key, len(cls._RANK)), key)


def resources(kind: str, entries: dict[str, Any], project: str, directory: Path) -> dict[str, Any]:
    """Top-level networks / volumes / secrets / configs with their engine names."""
    out = {}
    for key in sorted(entries):
        entry = dict(entries[key] or {})
        if "name" not in entry:
            entry["name"] = key if entry.get("external") else f"{project}_{key}"
        if kind in ("secrets", "configs") and "file" in entry:
            entry["file"] = _abs(str(entry["file"]), directory)
        if "labels" in entry:
            entry["labels"] = {k: scalar_text(v) for k, v in as_mapping(entry["labels"]).items()}
        out[key] = {"name": entry.pop("name"), **entry}
    return out

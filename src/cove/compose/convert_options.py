"""A service's process, resource and security keys as the engine's request values, each with
the meaning ``cove run``'s flag of the same name has (the parsers are the engine's, shared with
the CLI). What the engine cannot do is an error naming the key, never a silent drop."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cove.compose.errors import ComposeError
from cove.compose.model import Healthcheck, Project, Service
from cove.engine.requests import (
    DeviceRequest,
    HealthConfig,
    Resources,
    RestartName,
    RestartPolicy,
    Ulimit,
    check_platform,
    parse_log_opts,
    parse_security_opts,
)
from cove.errors import InvalidArgument

T = TypeVar("T")

# Service keys the engine has no option for, and why a user would want them (the error's hint).
UNSUPPORTED = {
    "annotations": "OCI annotations",
    "blkio_config": "block I/O weights and limits",
    "cgroup": "cgroup namespace mode",
    "cgroup_parent": "a parent cgroup",
    "cpu_count": "a CPU count (Windows)",
    "cpu_percent": "a CPU percentage (Windows)",
    "cpu_period": "the CFS period; use cpus",
    "cpu_quota": "the CFS quota; use cpus",
    "cpu_rt_period": "real-time CPU scheduling",
    "cpu_rt_runtime": "real-time CPU scheduling",
    "cpuset": "CPU pinning",
    "credential_spec": "Windows credential specs",
    "device_cgroup_rules": "device cgroup rules; use devices",
    "external_links": "links to containers outside the project; use a shared external network",
    "gpus": "GPUs",
    "group_add": "supplementary groups",
    "ipc": "IPC namespace sharing",
    "isolation": "Windows isolation",
    "label_file": "labels from a file; use labels",
    "mem_reservation": "a soft memory limit",
    "mem_swappiness": "swappiness",
    "models": "AI models",
    "oom_kill_disable": "OOM killer settings",
    "oom_score_adj": "OOM killer settings",
    "pid": "PID namespace sharing",
    "post_start": "lifecycle hooks",
    "pre_start": "lifecycle hooks",
    "pre_stop": "lifecycle hooks",
    "provider": "provider services",
    "storage_opt": "storage driver options",
    "use_api_socket": "the engine's API socket",
    "userns_mode": "user namespace modes",
    "uts": "UTS namespace sharing",
    "volume_driver": "volume drivers",
}
# Keys read from Service.extras (untyped in the model) that the engine does have.
HANDLED_EXTRAS = ("mac_address", "runtime")


def unsupported(key: str, service: Service) -> ComposeError:
    what = UNSUPPORTED.get(key, "this key")
    return ComposeError(
        f"services.{service.name}.{key}: not supported by cove's engine ({what})",
        hint=f"remove {key} from the service",
    )


def check_supported(service: Service) -> None:
    """An error for the first key the engine cannot honour."""
    for key in service.extras:
        if key not in HANDLED_EXTRAS:
            raise unsupported(key, service)
    if service.mem_reservation is not None or service.deploy.reservations.memory is not None:
        raise unsupported("mem_reservation", service)
    for side, given in (("limits", service.deploy.limits), ("reservations", service.deploy.reservations)):
        other = next(iter(given.extras), None)
        if other is not None:
            raise ComposeError(
                f"services.{service.name}.deploy.resources.{side}.{other}: not supported by cove's engine"
                + (" (GPUs and other devices)" if other in ("devices", "generic_resources") else ""),
                hint=f"remove deploy.resources.{side}.{other} from the service",
            )


def checked(service: Service, key: str, parse: Callable[[], T]) -> T:
    """``parse()``, its InvalidArgument as a ComposeError naming the service's key."""
    try:
        return parse()
    except InvalidArgument as exc:
        if isinstance(exc, ComposeError):
            raise
        raise ComposeError(f"services.{service.name}.{key}: {exc}", hint=exc.hint) from None


def healthcheck(service: Service) -> tuple[HealthConfig | None, bool]:
    """(healthcheck, no_healthcheck): test CMD / CMD-SHELL / NONE (or disable: true); no test
    keeps the image's HEALTHCHECK command with these timings, as ``--health-*`` alone does."""
    check = service.healthcheck
    if check is None:
        return None, False
    if check.disable:
        return None, True
    test = list(check.test)
    if test and test[0] not in ("CMD", "CMD-SHELL"):
        raise ComposeError(
            f"services.{service.name}.healthcheck.test: "
            f'must start with "CMD", "CMD-SHELL" or "NONE", not "{test[0]}"'
        )
    if test[:1] == ["CMD-SHELL"] and len(test) != 2:
        raise ComposeError(f"services.{service.name}.healthcheck.test: CMD-SHELL takes one command string")
    return _health(check, test), False


def _health(check: Healthcheck, test: list[str]) -> HealthConfig:
    return HealthConfig(
        test,
        interval=check.interval or 0.0,
        timeout=check.timeout or 0.0,
        retries=check.retries or 0,
        start_period=check.start_period or 0.0,
        start_interval=check.start_interval or 0.0,
    )


_DEPLOY_CONDITIONS = {"none": "no", "no": "no", "on-failure": "on-failure", "any": "always",
                      "always": "always", "unless-stopped": "unless-stopped"}  # fmt: skip


def restart(service: Service) -> RestartPolicy:
    """``restart:`` (no, always, on-failure[:N], unless-stopped); deploy.restart_policy, when
    given, wins (Docker Compose's rule)."""
    policy = checked(service, "restart", lambda: RestartPolicy.parse(service.restart or ""))
    condition = service.deploy.restart_condition
    if condition is not None:
        name = _DEPLOY_CONDITIONS.get(condition)
        if name is None:
            raise ComposeError(
                f'services.{service.name}.deploy.restart_policy.condition: invalid "{condition}"'
            )
        attempts = service.deploy.restart_max_attempts or 0
        policy = RestartPolicy(RestartName(name), attempts if name == "on-failure" else 0)
    return policy


def _one(service: Service, short: str, short_value: T | None, long: str, long_value: T | None) -> T | None:
    """A limit given by a short key and deploy.resources.limits: they must agree (compose-go)."""
    if short_value is not None and long_value is not None and short_value != long_value:
        raise ComposeError(
            f"services.{service.name}: can't set distinct values on '{short}' "
            f"and 'deploy.resources.limits.{long}'"
        )
    return long_value if long_value is not None else short_value


def resources(service: Service) -> Resources:
    limits = service.deploy.limits
    cpus = _one(service, "cpus", service.cpus, "cpus", limits.cpus)
    pids = _one(service, "pids_limit", service.pids_limit, "pids", limits.pids)
    return Resources(
        memory=_one(service, "mem_limit", service.mem_limit, "memory", limits.memory) or None,
        memory_swap=service.memswap_limit or None,
        cpus=cpus or None,
        cpu_shares=service.cpu_shares or None,
        pids_limit=pids or None,
    )


def security(project: Project, service: Service) -> tuple[bool, str]:
    """(no_new_privileges, seccomp) from security_opt; a seccomp profile file is read from the
    project directory (Docker Compose's rule); SELinux and AppArmor options as cove run takes them."""
    opts = list(service.security_opt)
    if "systempaths=unconfined" in opts:
        raise ComposeError(f"services.{service.name}.security_opt: systempaths=unconfined is not supported")
    return checked(service, "security_opt", lambda: parse_security_opts(opts, base=project.working_dir))


def logging(service: Service) -> tuple[int | None, int | None]:
    """(max-size, max-file) of the json-file log cove keeps for every container; the local
    driver's rotation options mean the same; other drivers are refused, as cove run's are."""
    log = service.logging
    if log is None:
        return None, None
    if log.driver not in (None, "json-file", "local"):
        raise ComposeError(
            f'services.{service.name}.logging.driver: "{log.driver}" is not supported by cove\'s engine',
            hint="cove keeps json-file logs; use driver json-file with max-size and max-file",
        )
    return checked(
        service, "logging.options", lambda: parse_log_opts(f"{k}={v}" for k, v in log.options.items())
    )


def ulimits(service: Service) -> list[Ulimit]:
    return [Ulimit(u.name, u.soft, u.hard) for u in service.ulimits]


def devices(service: Service) -> list[DeviceRequest]:
    out = []
    for i, d in enumerate(service.devices):
        if d.source == d.target and "=" in d.source and not d.source.startswith("/"):
            raise ComposeError(
                f"services.{service.name}.devices[{i}]: CDI devices are not supported by cove's engine"
            )
        if not set(d.permissions) <= set("rwm"):
            raise ComposeError(f'services.{service.name}.devices[{i}]: invalid permissions "{d.permissions}"')
        out.append(DeviceRequest(d.source, d.target, d.permissions))
    return out


def extra_hosts(service: Service) -> list[str]:
    """``host=ip`` (as the loader writes them) as the engine's ``host:ip``."""
    out = []
    for item in service.extra_hosts:
        name, sep, address = item.partition("=")
        if not sep:
            name, _, address = item.partition(":")
        for one in address.split(","):  # (compose-go takes several addresses for one name)
            out.append(f"{name}:{one.strip()}")
    return out


def dns(service: Service) -> list[str]:
    """``dns:`` servers: IP addresses (Docker Compose refuses anything else)."""
    for i, server in enumerate(service.dns):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ComposeError(f'services.{service.name}.dns[{i}]: invalid DNS address "{server}"') from None
    return list(service.dns)


def sysctls(service: Service) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in service.sysctls.items()}


def platform(service: Service) -> None:
    if service.platform:
        checked(service, "platform", lambda: check_platform(str(service.platform)))


def runtime(service: Service) -> str | None:
    """``runtime:`` by name only (crun, runc): a compose file is not the user at the terminal,
    and a path would have cove run a binary of the file's choosing as root (Docker's daemon
    takes only the runtimes it was configured with)."""
    name = extra(service, "runtime")
    if name is None:
        return None
    if not isinstance(name, str) or not name or "/" in name:
        raise ComposeError(
            f'services.{service.name}.runtime: "{name}" is not a runtime\'s name', hint="use crun or runc"
        )
    return name


def extra(service: Service, key: str) -> Any:
    value: Mapping[str, Any] = service.extras
    return value.get(key)

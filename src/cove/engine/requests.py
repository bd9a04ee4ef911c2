"""The values a front-end builds engine requests from, and the checks it runs on what a user
hands it (a port list, a seccomp profile) before the engine is asked.

The types are defined where the subsystems that use them live (``containers.model``,
``network.ports``; the policies in the base layer, ``cove.policies``); front-ends (the CLI,
the API server, compose) take them from here, so that they know the engine and nothing
beneath it (tests/unit/test_layering.py holds them to it).
"""

from __future__ import annotations

from cove.containers.model import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    DeviceRequest,
    HealthConfig,
    MountSpec,
    NetworkKind,
    NetworkMode,
    Resources,
    Ulimit,
)
from cove.engine.container_flags import (
    check_platform,
    go_bool,
    go_int,
    mac_address,
    octal_mode,
    parse_log_opts,
    parse_security_opts,
    parse_tmpfs,
)
from cove.network.ports import Binding, PortSpec, format_binding, parse_expose, parse_publish
from cove.policies import PullPolicy, RestartName, RestartPolicy

__all__ = [
    "BIND",
    "TMPFS",
    "VOLUME",
    "Binding",
    "ContainerConfig",
    "DeviceRequest",
    "HealthConfig",
    "MountSpec",
    "NetworkKind",
    "NetworkMode",
    "PortSpec",
    "PullPolicy",
    "Resources",
    "RestartName",
    "RestartPolicy",
    "Ulimit",
    "check_platform",
    "check_seccomp_profile",
    "format_binding",
    "go_bool",
    "go_int",
    "mac_address",
    "octal_mode",
    "parse_expose",
    "parse_log_opts",
    "parse_publish",
    "parse_security_opts",
    "parse_tmpfs",
]


def check_seccomp_profile(text: str, source: str = "seccomp profile") -> str:
    """A Docker-format seccomp profile's text (``--security-opt seccomp=FILE``'s content, or the
    API's ``seccomp=<json>``), checked to be one: InvalidArgument naming ``source`` otherwise."""
    from cove.runtime.seccomp import profile_from_text  # (json and the syscall tables: not for --help)

    profile_from_text(text, [], source=source)
    return text

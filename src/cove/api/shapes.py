"""Docker Engine API response shapes (PascalCase JSON), built from engine results.

The API server serves these, and the CLI prints them for ``inspect``, ``info --format``
and ``version --format``, so both speak exactly the same JSON.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

from cove.engine.types import ImageDetails, ImageSummary, Info
from cove.oci.platform import host_platform
from cove.oci.timestamps import format_rfc3339, timestamp
from cove.version import API_VERSION, MIN_API_VERSION, __version__

if TYPE_CHECKING:
    from cove.engine.container_types import ContainerDetails
    from cove.engine.networks import Endpoint, NetworkRecord

# Docker fills every container-config key, null or empty when unset.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def container_config(config: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(_CONFIG_DEFAULTS)
    out.update(config or {})
    return out


def image_inspect(d: ImageDetails) -> dict[str, Any]:
    raw = d.config
    history = raw.get("history") or []
    graph_data: dict[str, str] = {}
    if d.layer_paths:
        graph_data["UpperDir"] = d.layer_paths[0]
        if len(d.layer_paths) > 1:
            graph_data["LowerDir"] = ":".join(d.layer_paths[1:])
    out: dict[str, Any] = {
        "Id": d.id,
        "RepoTags": d.repo_tags,
        "RepoDigests": d.repo_digests,
        "Parent": "",
        "Comment": (history[-1].get("comment", "") if history else ""),
        "Created": raw.get("created", ""),
        "DockerVersion": raw.get("docker_version", ""),
        "Author": raw.get("author", ""),
        "Config": container_config(raw.get("config")),
        "Architecture": raw.get("architecture", ""),
        "Os": raw.get("os", ""),
        "Size": d.size,
        "VirtualSize": d.size,
        "GraphDriver": {"Data": graph_data or None, "Name": d.driver},
        "RootFS": {"Type": "layers", "Layers": list(raw.get("rootfs", {}).get("diff_ids", []))},
        "Metadata": {"LastTagTime": format_rfc3339(d.tagged if d.tagged is not None else d.added)},
        "Descriptor": {"mediaType": d.manifest_media_type, "digest": d.manifest_digest},
    }
    if raw.get("variant"):
        out["Variant"] = raw["variant"]
    return out


def image_summary(s: ImageSummary) -> dict[str, Any]:
    """One entry of GET /images/json."""
    return {
        "Id": s.id,
        "ParentId": "",
        "RepoTags": s.repo_tags,
        "RepoDigests": s.repo_digests,
        "Created": int(timestamp(s.created)),
        "Size": s.size,
        "SharedSize": -1,
        "VirtualSize": s.size,
        "Labels": s.labels or None,
        "Containers": s.containers,
    }


def info(i: Info) -> dict[str, Any]:
    return {
        "ID": "",
        "Containers": i.containers,
        "ContainersRunning": i.containers_running,
        "ContainersPaused": i.containers_paused,
        "ContainersStopped": i.containers_stopped,
        "Images": i.images,
        "Driver": i.driver,
        "DriverStatus": [["Backing Filesystem", i.backing_filesystem], ["Reason", i.driver_reason]],
        "DockerRootDir": i.root,
        "RuntimeDir": i.runtime_dir,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSType": "linux",
        "Architecture": i.architecture,
        "NCPU": i.cpus,
        "MemTotal": i.memory,
        "Name": i.name,
        "ServerVersion": i.server_version,
        "ConfigFile": i.config_file or "",
        "DefaultRuntime": i.runtime,
        "Runtimes": {i.runtime: {"path": i.runtime_path}} if i.runtime else {},
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": str(i.cgroup_version),
        "LoggingDriver": "json-file",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": [r for r in i.insecure_registries if "/" in r],
            "IndexConfigs": {},
            "Mirrors": list(i.registry_mirrors),
        },
    }


def _component() -> dict[str, Any]:
    plat = host_platform()
    return {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GoVersion": "",
        "PythonVersion": platform.python_version(),
        "Os": plat.os,
        "Arch": plat.architecture,
        "KernelVersion": platform.release(),
    }


def version() -> dict[str, Any]:
    server = _component()
    return {
        "Client": {**_component(), "Platform": {"Name": "cove"}},
        "Server": {
            **server,
            "Platform": {"Name": "cove"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": {}}],
        },
    }


ZERO_TIME = "0001-01-01T00:00:00Z"


def container_inspect(d: ContainerDetails) -> dict[str, Any]:
    from cove.engine.container_types import Status  # noqa: PLC0415 - the state module: not for `cove version`

    record, status, config = d.record, d.status, d.record.config
    image = d.image_config
    health = status.health.to_json() if status.health else None
    state: dict[str, Any] = {
        "Status": status.status.value,
        "Running": status.running,
        "Paused": status.status == Status.PAUSED,
        "Restarting": status.status == Status.RESTARTING,
        "OOMKilled": status.oom_killed,
        "Dead": status.status == Status.DEAD,
        "Pid": status.pid,
        "ExitCode": status.reported_exit_code,  # -1: unknown (State.Error says why)
        "Error": status.reported_error,
        "StartedAt": status.started_at or ZERO_TIME,
        "FinishedAt": status.finished_at or ZERO_TIME,
    }
    state["Health"] = health  # null without a health check (templates still find the field)
    binds = [f"{m.source}:{m.target}{':ro' if m.readonly else ''}" for m in config.mounts if m.type == "bind"]
    tmpfs = {m.target: "" for m in config.mounts if m.type == "tmpfs"}
    # (the image's settings unknown: the container's own are all there is to show)
    container_config = container_config_shape(config, d.env, image or {}, d.health)
    return {
        "Id": record.id,
        "Created": format_rfc3339(record.created),
        "Path": d.command[0] if d.command else "",
        "Args": d.command[1:],
        "State": state,
        "Image": record.image_id,
        "ResolvConfPath": d.resolv_conf_path,
        "HostnamePath": d.hostname_path,
        "HostsPath": d.hosts_path,
        "LogPath": d.log_path,
        "Name": "/" + record.name,
        "RestartCount": status.restart_count,
        "Driver": d.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "Binds": binds or None,
            "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": _log_config(config)},
            "NetworkMode": str(config.network),
            "PortBindings": {},
            "RestartPolicy": {
                "Name": str(config.restart.name),
                "MaximumRetryCount": config.restart.max_retries,
            },
            "AutoRemove": config.auto_remove,
            "CapAdd": config.cap_add or None,
            "CapDrop": config.cap_drop or None,
            "Dns": config.dns,
            "DnsSearch": config.dns_search,
            "DnsOptions": config.dns_options,
            "ExtraHosts": config.extra_hosts or None,
            "Privileged": config.privileged,
            "ReadonlyRootfs": config.read_only,
            "SecurityOpt": _security_opts(config) or None,
            "Tmpfs": tmpfs or None,
            "Memory": config.resources.memory or 0,
            "MemorySwap": config.resources.memory_swap or 0,
            "NanoCpus": int((config.resources.cpus or 0) * 1e9),
            "CpuShares": config.resources.cpu_shares or 0,
            "PidsLimit": config.resources.pids_limit,
            "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in config.ulimits] or None,
            "Devices": [
                {
                    "PathOnHost": dv.host_path,
                    "PathInContainer": dv.container_path,
                    "CgroupPermissions": dv.access,
                }
                for dv in config.devices
            ],
            "Init": config.init or None,
            "Runtime": d.runtime,
        },
        "GraphDriver": {"Data": d.graph_data or None, "Name": d.driver},
        "Mounts": [
            {
                "Type": m.type,
                **({"Name": m.name, "Driver": "local"} if m.type == "volume" else {}),
                "Source": m.source,
                "Destination": m.destination,
                "Mode": "ro" if m.readonly else "",
                "RW": not m.readonly,
                "Propagation": m.propagation if m.type == "bind" and m.propagation != "flag" else "",
            }
            for m in d.mounts
        ],
        "Config": container_config,
        "NetworkSettings": network_settings(d, config),
    }


def container_config_shape(
    config: Any, env: list[str], image: dict[str, Any], health: Any = None
) -> dict[str, Any]:
    """``Config`` of a container's inspect; ``health`` is its health check merged over the image's."""
    out = container_config(
        {
            "Hostname": config.hostname or "",
            "Domainname": config.domainname,
            "User": config.user if config.user is not None else image.get("User", ""),
            "AttachStdin": config.open_stdin,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": config.tty,
            "OpenStdin": config.open_stdin,
            "StdinOnce": config.stdin_once,
            "Env": env,
            "Cmd": config.cmd if config.cmd is not None else image.get("Cmd"),
            "Image": config.image,
            "Volumes": {m.target: {} for m in config.mounts if m.type == "volume"} or None,
            "WorkingDir": config.workdir or image.get("WorkingDir", ""),
            "Entrypoint": config.entrypoint if config.entrypoint is not None else image.get("Entrypoint"),
            "OnBuild": None,
            "Labels": {**(image.get("Labels") or {}), **config.labels},
        }
    )
    if config.stop_signal or image.get("StopSignal"):
        out["StopSignal"] = config.stop_signal or image.get("StopSignal")
    if config.stop_timeout is not None:
        out["StopTimeout"] = config.stop_timeout
    if config.no_healthcheck:
        out["Healthcheck"] = {"Test": ["NONE"]}  # as Docker records --no-healthcheck
    elif health is not None:
        out["Healthcheck"] = {
            "Test": health.test,
            "Interval": int(health.interval * 1e9),
            "Timeout": int(health.timeout * 1e9),
            "StartPeriod": int(health.start_period * 1e9),
            "StartInterval": int(health.start_interval * 1e9),
            "Retries": health.retries,
        }
    return out


def _log_config(config: Any) -> dict[str, str]:
    out = {}
    if config.log_max_size:
        out["max-size"] = str(config.log_max_size)
    if config.log_max_files:
        out["max-file"] = str(config.log_max_files)
    return out


def _security_opts(config: Any) -> list[str]:
    out = []
    if config.no_new_privileges:
        out.append("no-new-privileges")
    if config.seccomp == "unconfined":
        out.append("seccomp=unconfined")
    elif config.seccomp != "default":
        out.append("seccomp=<custom profile>")
    return out


def network(record: NetworkRecord, endpoints: list[Endpoint], names: dict[str, str]) -> dict[str, Any]:
    """``docker network inspect``'s shape."""
    prefix = record.subnet.split("/")[1]
    ipam_config: dict[str, str] = {"Subnet": record.subnet, "Gateway": record.gateway}
    if record.ip_range != record.subnet:
        ipam_config["IPRange"] = record.ip_range
    options = {"com.docker.network.bridge.name": record.bridge, **record.options}
    return {
        "Name": record.name,
        "Id": record.id,
        "Created": format_rfc3339(record.created),
        "Scope": "local",
        "Driver": record.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam_config]},
        "Internal": record.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            e.container_id: {
                "Name": names.get(e.container_id, e.container_id[:12]),
                "EndpointID": "",
                "MacAddress": e.mac,
                "IPv4Address": f"{e.ip}/{prefix}",
                "IPv6Address": "",
            }
            for e in endpoints
        },
        "Options": options,
        "Labels": dict(record.labels),
    }


def network_settings(d: ContainerDetails, config: Any) -> dict[str, Any]:
    """``NetworkSettings`` of a container's inspect."""
    ports: dict[str, list[dict[str, str]] | None] = {}
    for spec in config.publish:
        ports.setdefault(f"{spec.container_port}/{spec.protocol}", None)
    for b in d.ports:
        entry = ports.get(b.key()) or []
        entry.append({"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
        ports[b.key()] = entry
    networks: dict[str, Any] = {}
    for attached in d.networks:
        e = attached.endpoint
        networks[attached.name] = {
            "IPAMConfig": {"IPv4Address": config.ip} if config.ip and e.position == 0 else None,
            "Links": None,
            "Aliases": list(e.aliases) or None,
            "MacAddress": e.mac,
            "NetworkID": attached.network_id,
            "EndpointID": "",
            "Gateway": attached.gateway,
            "IPAddress": e.ip,
            "IPPrefixLen": attached.prefix_length,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": [n for n in (d.record.name, d.record.id[:12], *e.aliases) if n],
        }
    if not networks:
        networks[str(config.network)] = {"NetworkID": "", "IPAddress": "", "Gateway": "", "MacAddress": ""}
    # The top-level fields are the default bridge's, as Docker's are.
    bridge = d.networks[0] if d.networks and d.networks[0].name == "bridge" else None
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": d.sandbox_key,
        "Ports": ports,
        "Gateway": bridge.gateway if bridge else "",
        "IPAddress": bridge.endpoint.ip if bridge else "",
        "IPPrefixLen": bridge.prefix_length if bridge else 0,
        "MacAddress": bridge.endpoint.mac if bridge else "",
        "Networks": networks,
    }

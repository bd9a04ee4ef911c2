"""Docker Engine API response shapes (PascalCase JSON), built from engine results.

The API server serves these, and the CLI prints them for ``inspect``, ``info --format``
and ``version --format``, so both speak exactly the same JSON.
"""

from __future__ import annotations

import platform
from typing import Any

from cove.engine.types import ImageDetails, ImageSummary, Info
from cove.oci.platform import host_platform
from cove.oci.timestamps import format_rfc3339, timestamp
from cove.version import API_VERSION, MIN_API_VERSION, __version__

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
        "Metadata": {"LastTagTime": format_rfc3339(d.added)},
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

"""Looking at containers: the list (``ps``) and one container's details (``inspect``)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from cove.containers.model import VOLUME
from cove.containers.store import ContainerRecord
from cove.engine.container_types import ContainerDetails, ContainerSize, MountPoint, NetworkAttachment
from cove.engine.containers.filters import filter_containers
from cove.engine.containers.health import effective_health
from cove.engine.containers.layout import ContainerLayout
from cove.engine.containers.model import Container
from cove.errors import CoveError


class Inspector:
    def __init__(self, layout: ContainerLayout) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes

    def list_containers(
        self, *, all: bool = False, filters: dict[str, list[str]] | None = None, last: int | None = None
    ) -> list[Container]:
        """Newest first, as ``docker ps``: running only unless ``all`` (or ``last``)."""
        containers = self.layout.all()
        if last is not None and last > 0:
            containers = containers[:last]
        elif not all and "status" not in (filters or {}):
            containers = [c for c in containers if c.status.running]
        return filter_containers(self.layout, containers, filters or {})

    def size(self, record: ContainerRecord) -> ContainerSize:
        """Bytes the container's writable layer holds, and with its image's (``ps --size``)."""
        rw = self.store.snapshotter.usage(record.snapshot_key)[1]
        image = self.store.images.get(record.image_id).size if record.image_id else 0
        return ContainerSize(rw, rw + image)

    def command_line(self, record: ContainerRecord, image_config: dict[str, Any] | None = None) -> list[str]:
        """What the container runs: its entrypoint and command over the image's (``ps``'s
        COMMAND); InvalidArgument when they make no command."""
        image = self.layout.image_config(record) if image_config is None else image_config
        return _command(record, image or {})

    def details(self, ref: str) -> ContainerDetails:
        container = self.layout.get(ref)
        record = container.record
        image = self.layout.image_config(record)
        known = image or {}  # (unknown settings: what the container's own config says)
        try:
            cmd = _command(record, known)
        except CoveError:
            cmd = []  # neither the container nor its image names a command: inspect shows none
        env: dict[str, str] = {}
        for item in list(known.get("Env") or []) + list(record.config.env):
            key, _, value = item.partition("=")
            env[key] = value
        mounts = []
        for m in record.config.mounts:
            source = str(self.volumes.data_dir(m.source)) if m.type == VOLUME else m.source
            mounts.append(
                MountPoint(
                    m.type, m.source if m.type == VOLUME else "", source, m.target, m.readonly, m.propagation
                )
            )
        graph: dict[str, str] = {}
        # (a snapshot already gone, the container being removed: inspect shows no GraphDriver data)
        with contextlib.suppress(CoveError):
            for mount in self.store.snapshotter.mounts(record.snapshot_key):
                for option in mount.options:
                    key, _, value = option.partition("=")
                    if key in ("lowerdir", "upperdir", "workdir"):
                        graph[{"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}[key]] = (
                            value
                        )
                if mount.type == "bind":
                    graph["UpperDir"] = mount.source
            graph["MergedDir"] = str(self.layout.rootfs(record.id))
        directory = self.layout.dir(record.id)
        return ContainerDetails(
            record=record,
            status=container.status,
            command=cmd,
            env=[f"{k}={v}" for k, v in env.items()],
            image_config=image,
            mounts=mounts,
            driver=self.store.snapshotter.driver,
            graph_data=graph,
            resolv_conf_path=str(directory / "resolv.conf"),
            hostname_path=str(directory / "hostname"),
            hosts_path=str(directory / "hosts"),
            log_path=str(self.layout.log_path(record.id)),
            runtime=json.loads(record.runtime).get("name", "") if record.runtime else "",
            health=effective_health(record.config, known),
            **self._network_details(record, container.status.running),
        )

    def _network_details(self, record: ContainerRecord, running: bool) -> dict[str, Any]:
        endpoints = self.layout.networks.records.endpoints(container_id=record.id)
        if not endpoints:
            return {}
        networks = []
        for e in endpoints:
            n = self.layout.networks.records.get(e.network_id)
            networks.append(NetworkAttachment(n.name, n.id, e, n.gateway, int(n.subnet.split("/")[1])))
        name = self.layout.networks.netns_name(record.id)
        return {
            "networks": networks,
            "ports": self.layout.networks.bindings(record.id) if running else [],
            "sandbox_key": str(self.layout.host.netns_path(name))
            if running and self.layout.host.netns_exists(name)
            else "",
        }


def _command(record: ContainerRecord, image: dict[str, Any]) -> list[str]:
    # The spec module brings the runtime's tables (seccomp, capabilities): only when a
    # container is shown, not for every command that opens the service.
    from cove.containers import spec as container_spec

    return container_spec.command(record.config, image)

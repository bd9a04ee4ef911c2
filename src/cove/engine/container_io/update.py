"""``cove update``: a container's resources (told to the runtime while it runs) and restart policy."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from cove.containers.model import Resources, RestartPolicy
from cove.containers.spec import resources as spec_resources
from cove.engine.containers import Container, ContainerService


class Updater:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def update(self, ref: str, *, resources: dict[str, Any], restart: str | None = None) -> Container:
        container = self.c.get(ref)
        record = container.record
        current = dataclasses.asdict(record.config.resources)
        current.update({k: v for k, v in resources.items() if v is not None})
        config = dataclasses.replace(record.config, resources=Resources(**current))
        if restart is not None:
            config = dataclasses.replace(config, restart=RestartPolicy.parse(restart))
        oci_resources = spec_resources(config, self.store.host.online_cpus()).to_spec()
        # Lifting a limit must be said to the runtime (an absent field leaves the old one in place).
        if resources.get("pids_limit") is not None and resources["pids_limit"] <= 0:
            oci_resources["pids"] = {"limit": -1}
        if resources.get("cpus") == 0:
            oci_resources.setdefault("cpu", {}).update(quota=-1, period=100_000)
        if container.status.running:
            resources_file = self.c.dir(record.id) / "update.json"
            resources_file.write_text(json.dumps(oci_resources))
            try:
                self.c.runtime_of(record).update(record.id, resources_file)
            finally:
                resources_file.unlink(missing_ok=True)
        self.c.records.update_config(record.id, config)
        return self.c.get(record.id)

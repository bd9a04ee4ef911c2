"""A container's networks after its creation: connect, disconnect, and its published ports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cove.engine.containers.layout import ContainerLayout
from cove.errors import FailedPrecondition

if TYPE_CHECKING:
    from cove.engine.networks import Binding


class Connector:
    def __init__(self, layout: ContainerLayout) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes

    def ports(self, ref: str) -> list[Binding]:
        """The published ports of a running container (none once it stopped, as with Docker)."""
        record = self.records.resolve(ref)
        if not self.layout.state(record.id).running:
            return []
        return self.layout.networks.bindings(record.id)

    def connect(
        self, network: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None
    ) -> None:
        """Put a container on one more network; a running one gets its link at once."""
        record = self.records.resolve(ref)
        if not record.config.network.own_namespace:
            raise FailedPrecondition(
                f"container {record.name} uses network mode {record.config.network}: "
                "it cannot be connected to other networks"
            )
        with self.layout.ops_lock(record.id).exclusive():
            running = self.layout.state(record.id).running
            self.layout.networks.connect(network, record.id, aliases=aliases or [], ip=ip, running=running)

    def disconnect(self, network: str, ref: str) -> None:
        record = self.records.resolve(ref)
        with self.layout.ops_lock(record.id).exclusive():
            running = self.layout.state(record.id).running
            self.layout.networks.disconnect(network, record.id, running=running)

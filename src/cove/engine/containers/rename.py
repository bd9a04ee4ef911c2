"""Renaming a container (and what resolves its name on its networks)."""

from __future__ import annotations

from cove.containers.names import check_name
from cove.engine.containers.layout import ContainerLayout
from cove.errors import InvalidArgument


class Renamer:
    def __init__(self, layout: ContainerLayout) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes

    def rename(self, ref: str, new_name: str) -> None:
        record = self.records.resolve(ref)
        name = check_name(new_name)
        if name == record.name:
            raise InvalidArgument("renaming a container with the same name as its current name")
        self.records.rename(record.id, name)
        if self.layout.networks.records.endpoints(container_id=record.id):
            self.layout.networks.publish_names()  # the new name resolves, the old one no more

"""The project's networks and volumes: made with Docker Compose's labels, external ones only
checked, down removing what carries the project's label."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from cove.compose import resources
from cove.compose.errors import ComposeError
from cove.compose.model import Mount, MountType, Project, Resource, Service, ServiceNetwork
from cove.errors import NotFound


class Engine:
    def __init__(self, networks: dict[str, dict[str, str]], volumes: dict[str, dict[str, str]]) -> None:
        self.networks, self.volumes = networks, volumes
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def get_network(self, name: str) -> object:
        if name not in self.networks:
            raise NotFound(name)
        return name

    def create_network(self, name: str, **kw: Any) -> None:
        self.calls.append(("create_network", name, kw))
        self.networks[name] = dict(kw["labels"])

    def get_volume(self, name: str) -> object:
        if name not in self.volumes:
            raise NotFound(name)
        return name

    def create_volume(self, name: str, **kw: Any) -> None:
        self.calls.append(("create_volume", name, kw))
        self.volumes[name] = dict(kw["labels"])


def project(*, external: bool = False) -> Project:
    web = Service(
        "web",
        networks=(ServiceNetwork("default"), ServiceNetwork("ext")),
        volumes=(Mount(MountType.VOLUME, "/d", "data"),),
    )
    return Project(
        "app",
        Path("/app"),
        MappingProxyType({"web": web}),
        networks=MappingProxyType(
            {
                "default": Resource("default", "app_default"),
                "ext": Resource("ext", "shared", external=True),
                "unused": Resource("unused", "app_unused"),
            }
        ),
        volumes=MappingProxyType({"data": Resource("data", "app_data", external=external)}),
    )


def test_networks_and_volumes_are_made_with_docker_composes_labels_external_ones_only_checked() -> None:
    engine = Engine({"shared": {}}, {})
    resources.ensure_networks(engine, project(), ["web"], lambda e: None)  # type: ignore[arg-type]
    resources.ensure_volumes(engine, project(), ["web"], lambda e: None)  # type: ignore[arg-type]
    assert [(verb, name) for verb, name, _ in engine.calls] == [
        ("create_network", "app_default"),
        ("create_volume", "app_data"),
    ]
    assert engine.networks["app_default"] == {
        "com.docker.compose.project": "app",
        "com.docker.compose.network": "default",
        "com.docker.compose.version": "5.6.1",
    }
    assert engine.volumes["app_data"]["com.docker.compose.volume"] == "data"


def test_a_missing_external_network_or_volume_is_one_line_naming_it() -> None:
    with pytest.raises(ComposeError, match=r"^network shared declared as external, but could not be found$"):
        resources.ensure_networks(Engine({}, {}), project(), ["web"], lambda e: None)  # type: ignore[arg-type]
    with pytest.raises(ComposeError, match=r'^external volume "app_data" not found$'):
        resources.ensure_volumes(Engine({}, {}), project(external=True), ["web"], lambda e: None)  # type: ignore[arg-type]

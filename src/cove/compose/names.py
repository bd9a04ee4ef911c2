"""What Docker Compose calls the things a project makes, and the labels that tie them to it.

The labels are the truth (compose v1's lesson): a project is whatever carries its
``com.docker.compose.project`` label, so ``ps``, ``down`` and ``ls`` find its containers,
networks and volumes on the engine without any state of compose's own, and Docker tooling
recognises them.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
CONTAINER_NUMBER = PREFIX + "container-number"
CONFIG_HASH = PREFIX + "config-hash"
ONEOFF = PREFIX + "oneoff"
DEPENDS_ON = PREFIX + "depends_on"
WORKING_DIR = PREFIX + "project.working_dir"
CONFIG_FILES = PREFIX + "project.config_files"
ENVIRONMENT_FILE = PREFIX + "project.environment_file"
IMAGE = PREFIX + "image"
VERSION = PREFIX + "version"
NETWORK = PREFIX + "network"
VOLUME = PREFIX + "volume"

# What cove writes as com.docker.compose.version: the Compose version whose behaviour it follows.
COMPOSE_VERSION = "5.6.1"


def container_name(project: str, service: str, number: int, *, oneoff: bool = False, slug: str = "") -> str:
    """``<project>-<service>-<n>``, and ``<project>-<service>-run-<slug>`` for ``run``."""
    if oneoff:
        return f"{project}-{service}-run-{slug}"
    return f"{project}-{service}-{number}"


def project_filter(project: str, **labels: str) -> dict[str, list[str]]:
    """The engine's list filter for a project's objects (with more labels, by their suffix after
    ``com.docker.compose.``: ``project_filter("app", service="web")``)."""
    wanted = [f"{PROJECT}={project}"]
    wanted += [f"{PREFIX}{key.replace('_', '-')}={value}" for key, value in labels.items()]
    return {"label": wanted}


def project_of(labels: Mapping[str, str]) -> str | None:
    return labels.get(PROJECT)

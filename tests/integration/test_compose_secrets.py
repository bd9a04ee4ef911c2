"""Secrets and configs put into a created busybox container, with their uid, gid and mode, seen
from inside it once it runs (docker/compose#9648: Docker Compose ignores them for file secrets)."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.compose.convert import service_container
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.options import ProjectOptions
from cove.compose.secrets import inject, service_files
from cove.engine.compose_backend import LocalBackend
from cove.engine.requests import ContainerConfig, NetworkKind, NetworkMode
from cove.policies import PullPolicy
from tests.conftest import CoveRunner

pytestmark = pytest.mark.integration

COMPOSE = """
services:
  app:
    image: busybox
    read_only: {read_only}
    command:
      - sh
      - -c
      - >-
        for f in /run/secrets/plain /run/secrets/token /etc/from_env /app/settings.ini;
        do stat -c '%n %u %g %a' $$f; cat $$f; echo; done;
        touch /probe 2>/dev/null || echo read-only
    secrets:
      - source: plain
        uid: "1000"
        gid: "1001"
        mode: 0400
      - source: owned
        target: token
        uid: "33"
        gid: "34"
        mode: 0440
      - source: from_env
        target: /etc/from_env
        uid: "5"
        mode: 0600
    configs:
      - source: settings
        target: /app/settings.ini
        uid: "65534"
        gid: "65534"
        mode: 0640
secrets:
  plain: {{file: ./plain.txt}}
  owned: {{file: ./owned.txt}}
  from_env: {{environment: TOKEN}}
configs:
  settings: {{content: "key=value"}}
"""


@pytest.fixture
def backend(cove_busybox: CoveRunner) -> Iterator[LocalBackend]:
    engine = cove_busybox.engine()
    try:
        yield LocalBackend(engine)
    finally:
        engine.close()


def _project(tmp_path: Path, read_only: bool) -> Project:
    (tmp_path / "compose.yaml").write_text(COMPOSE.format(read_only=str(read_only).lower()))
    (tmp_path / "plain.txt").write_text("plain-secret")
    (tmp_path / "owned.txt").write_text("owned-secret")
    return load_project(
        ProjectOptions(
            working_dir=str(tmp_path), project_name=f"sec{int(read_only)}", environ={"TOKEN": "t0k"}
        )
    )


@pytest.mark.parametrize("read_only", [False, True])
def test_secrets_and_configs_keep_their_owner_and_mode(
    backend: LocalBackend, tmp_path: Path, read_only: bool
) -> None:
    project = _project(tmp_path, read_only)
    service = project.services["app"]
    made = service_container(project, service, 1)
    config = _offline(made.config, read_only=service.read_only)
    container = backend.create_container(config, made.name, pull=PullPolicy.NEVER)
    inject(backend, container.record.id, service_files(project, service))
    backend.start_container(container.record.id)
    assert backend.engine.containers.wait(container.record.id) == 0
    out = "".join(text for _, _, text in backend.logs(container.record.id))
    assert out.splitlines() == [
        "/run/secrets/plain 1000 1001 400",
        "plain-secret",
        "/run/secrets/token 33 34 440",
        "owned-secret",
        "/etc/from_env 5 0 600",
        "t0k",
        "/app/settings.ini 65534 65534 640",
        "key=value",
        *(["read-only"] if read_only else []),
    ]
    backend.remove_container(container.record.id, force=True)


def test_a_target_through_a_link_stays_in_the_container(backend: LocalBackend, tmp_path: Path) -> None:
    # An image's /etc/leak -> /tmp/outside: the config replaces the link, it does not follow it
    # (and nothing it does reaches the host's /tmp).
    text = (
        "services:\n  app:\n    image: busybox\n"
        "    command: [sh, -c, 'ls -l /etc/leak; cat /etc/leak']\n"
        "    configs: [{source: c, target: /etc/leak}]\n"
        "configs:\n  c: {content: inside}\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    project = load_project(ProjectOptions(working_dir=str(tmp_path), project_name="seclink", environ={}))
    service = project.services["app"]
    made = service_container(project, service, 1)
    container = backend.create_container(_offline(made.config), made.name, pull=PullPolicy.NEVER)
    link = _link_tar("etc/leak", str(tmp_path / "outside"))
    backend.engine.container_io.copy_to(container.record.id, "/", link)
    inject(backend, container.record.id, service_files(project, service))
    backend.start_container(container.record.id)
    assert backend.engine.containers.wait(container.record.id) == 0
    out = "".join(text for _, _, text in backend.logs(container.record.id))
    assert out.startswith("-r--r--r--") and out.rstrip().endswith("inside")
    assert not (tmp_path / "outside").exists()
    backend.remove_container(container.record.id, force=True)


def _offline(config: ContainerConfig, **changes: object) -> ContainerConfig:
    """The service's config without its project network (not made here: not what is tested)."""
    return dataclasses.replace(config, network=NetworkMode(NetworkKind.NONE), network_aliases=[], **changes)  # type: ignore[arg-type]


def _link_tar(name: str, target: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
    buffer.seek(0)
    return buffer

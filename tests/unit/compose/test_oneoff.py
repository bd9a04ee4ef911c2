"""compose run's one-off container (compose.oneoff): name, labels and the command line's overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cove.compose import names
from cove.compose.errors import ComposeError
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.oneoff import (
    SLUG,
    RunOptions,
    dependency_services,
    new_slug,
    oneoff_container,
    wait_dependencies,
)
from cove.compose.options import ProjectOptions
from cove.engine.container_types import HealthStatus, Status
from cove.engine.requests import VOLUME, MountSpec, PortSpec
from tests.unit.compose.fakes import FakeBackend, container


def project(tmp_path: Path, text: str) -> Project:
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(ProjectOptions(files=("compose.yaml",), working_dir=str(tmp_path), environ={}))


APP = (
    "name: app\n"
    "services:\n"
    "  web:\n"
    "    image: busybox\n"
    "    command: [sleep, '60']\n"
    "    container_name: fixed\n"
    "    restart: always\n"
    "    environment: {A: '1', B: '2'}\n"
    "volumes:\n"
    "  data: {}\n"
)


def test_name_labels_and_no_restart(tmp_path: Path) -> None:
    p = project(tmp_path, APP)
    slug = new_slug()
    assert len(slug) == 64 and int(slug, 16) >= 0
    made = oneoff_container(p, p.services["web"], RunOptions(labels={"k": "v"}), slug)
    assert made.name == f"app-web-run-{slug[:12]}"  # not the service's container_name
    labels = made.config.labels
    assert labels[names.ONEOFF] == "True" and labels[SLUG] == slug and labels["k"] == "v"
    assert labels[names.SERVICE] == "web" and labels[names.PROJECT] == "app"
    assert made.config.restart.name.value == "no" and made.config.cmd == ["sleep", "60"]
    assert oneoff_container(p, p.services["web"], RunOptions(name="mine"), slug).name == "mine"


def test_overrides(tmp_path: Path) -> None:
    p = project(tmp_path, APP)
    options = RunOptions(
        command=("echo", "hi"),
        entrypoint=("/bin/sh", "-c"),
        env=("B=3", "C=4"),
        volumes=(MountSpec(VOLUME, "/data", "data"), MountSpec(VOLUME, "/other", "loose")),
        user="nobody",
        workdir="/tmp",
        tty=True,
        stdin=True,
        remove=True,
    )
    config = oneoff_container(p, p.services["web"], options, "a" * 64).config
    assert config.cmd == ["echo", "hi"] and config.entrypoint == ["/bin/sh", "-c"]
    assert config.env == ["A=1", "B=3", "C=4"]
    assert [(m.target, m.source) for m in config.mounts][-2:] == [("/data", "app_data"), ("/other", "loose")]
    assert config.user == "nobody" and config.workdir == "/tmp"
    assert config.tty and config.open_stdin and config.auto_remove


def test_ports_only_with_service_ports_or_publish(tmp_path: Path) -> None:
    p = project(tmp_path, APP)
    web = p.services["web"]
    assert oneoff_container(p, web, RunOptions(), "a" * 64).config.publish == []
    spec = PortSpec(80, host_ip="127.0.0.1")
    assert oneoff_container(p, web, RunOptions(publish=(spec,)), "a" * 64).config.publish == [spec]
    with pytest.raises(ComposeError, match="--service-ports and --publish are incompatible"):
        oneoff_container(p, web, RunOptions(publish=(spec,), service_ports=True), "a" * 64)


DEPS = (
    "name: app\n"
    "services:\n"
    "  db: {image: busybox}\n"
    "  job: {image: busybox}\n"
    "  web:\n"
    "    image: busybox\n"
    "    depends_on:\n"
    "      db: {condition: service_healthy}\n"
    "      job: {condition: service_completed_successfully}\n"
)


def test_dependencies_are_waited_on_for_their_conditions(tmp_path: Path) -> None:
    p = project(tmp_path, DEPS)
    web = p.services["web"]
    assert dependency_services(p, web) == ["db", "job"]
    db = container("app", "db", health=HealthStatus.STARTING)
    job = container("app", "job")
    backend = FakeBackend(db, job)
    looks = {"n": 0}
    plain_get = backend.get_container

    def get_container(ref: str) -> object:
        looks["n"] += 1
        if looks["n"] == 5:  # after a few looks, both get where they were going
            backend.add(container("app", "db", health=HealthStatus.HEALTHY))
            backend.finish(job.record.id, 0)
        return plain_get(ref)

    backend.get_container = get_container  # type: ignore[method-assign,assignment]
    events: list[str] = []

    def progress(event: object) -> None:
        events.append(f"{event.name} {event.status}")  # type: ignore[attr-defined]

    ids = {"db": [db.record.id], "job": [job.record.id]}
    wait_dependencies(backend, web, ids, progress, poll=0.001, timeout=5)  # type: ignore[arg-type]
    assert events == ["app-db-1 Waiting", "app-job-1 Waiting", "app-db-1 Healthy", "app-job-1 Exited"]
    assert looks["n"] > 5


@pytest.mark.parametrize(
    ("db_health", "job_exit", "message"),
    [
        (HealthStatus.UNHEALTHY, None, "dependency failed to start: container app-db-1 is unhealthy"),
        (None, None, "container app-db-1 has no healthcheck configured"),
        (HealthStatus.HEALTHY, 3, 'service "job" didn\'t complete successfully: exit 3'),
    ],
)
def test_a_dependency_that_fails_its_condition_is_named(
    tmp_path: Path, db_health: HealthStatus | None, job_exit: int | None, message: str
) -> None:
    p = project(tmp_path, DEPS)
    db = container("app", "db", health=db_health)
    job = container("app", "job", status=Status.EXITED, exit_code=job_exit or 0)
    backend = FakeBackend(db, job)
    ids = {"db": [db.record.id], "job": [job.record.id]}
    with pytest.raises(ComposeError, match=re.escape(message)):
        wait_dependencies(backend, p.services["web"], ids, lambda _: None, poll=0.001, timeout=5)  # type: ignore[arg-type]

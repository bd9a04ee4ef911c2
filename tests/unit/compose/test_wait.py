"""up --wait on the recording fake backend: running and healthy pass, exits and unhealthy fail
with the container's name, one-shots something waits on may exit 0."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from cove.compose.errors import ComposeError
from cove.compose.lifecycle import wait_ready
from cove.compose.model import Condition, Dependency, Project, Service
from cove.engine.requests import ContainerConfig, PullPolicy
from tests.unit.compose.test_executor import FakeBackend, Script, exits, healthy_after, runs, unhealthy_after


def waited(scripts: dict[str, Script], *, timeout: float | None = 5) -> None:
    services = [
        Service("web", image="b", depends_on=(Dependency("job", Condition.COMPLETED_SUCCESSFULLY),)),
        Service("job", image="b"),
        Service("other", image="b"),
    ]
    project = Project("app", Path("/app"), MappingProxyType({s.name: s for s in services}))
    backend = FakeBackend(scripts, delay=0)
    ids: dict[str, list[str]] = {}
    for s in ("web", "job", "other"):
        labels = {"com.docker.compose.service": s}
        c = backend.create_container(
            ContainerConfig(image="b", labels=labels), f"app-{s}-1", pull=PullPolicy.NEVER
        )
        backend.start_container(c.record.id)
        ids[s] = [c.record.id]
    wait_ready(backend, project, ids, lambda e: None, timeout=timeout, poll=0.001)  # type: ignore[arg-type]


def test_running_healthy_and_a_completed_one_shot_pass() -> None:
    waited({"web": healthy_after(3), "job": exits(0, after=2), "other": runs})


@pytest.mark.parametrize(
    ("scripts", "message"),
    [
        ({"other": exits(0)}, r"container app-other-1 exited \(0\)"),
        ({"job": exits(2)}, r"container app-job-1 exited \(2\)"),
        ({"web": unhealthy_after(2)}, "container app-web-1 is unhealthy"),
    ],
)
def test_an_exit_or_unhealthy_fails_naming_the_container(scripts: dict[str, Script], message: str) -> None:
    with pytest.raises(ComposeError, match=f"^{message}$"):
        waited(scripts)


def test_the_timeout_is_one_line() -> None:
    with pytest.raises(ComposeError, match=r"^application not healthy after 0.05s$"):
        waited({"web": healthy_after(10**9)}, timeout=0.05)

"""The executor on a recording fake backend: order, bounded parallelism, conditions, fail-fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from cove.compose import executor, graph
from cove.compose.convert import service_container
from cove.compose.errors import ComposeError
from cove.compose.model import Condition, Dependency, Project, Service
from cove.compose.plan import Options, make_plan
from cove.compose.progress import Event
from cove.compose.state import Observed, from_containers
from cove.containers.state import ContainerState, Health, HealthStatus, Status
from cove.containers.store import ContainerRecord
from cove.engine.containers.model import Container
from cove.engine.requests import ContainerConfig, MountSpec, PullPolicy
from cove.volumes.store import Volume

# What a container does once started: its states over the next looks at it.
Script = Callable[[int], tuple[Status, HealthStatus | None, int]]


def runs(looks: int) -> tuple[Status, HealthStatus | None, int]:
    return Status.RUNNING, None, 0


def healthy_after(n: int) -> Script:
    return lambda looks: (Status.RUNNING, HealthStatus.HEALTHY if looks >= n else HealthStatus.STARTING, 0)


def unhealthy_after(n: int) -> Script:
    return lambda looks: (Status.RUNNING, HealthStatus.UNHEALTHY if looks >= n else HealthStatus.STARTING, 0)


def exits(code: int, after: int = 1) -> Script:
    return lambda looks: (Status.EXITED, None, code) if looks >= after else (Status.RUNNING, None, 0)


class FakeBackend:
    def __init__(self, scripts: dict[str, Script] | None = None, delay: float = 0.02) -> None:
        self.scripts = scripts or {}
        self.delay = delay
        self.calls: list[tuple[str, str]] = []
        self.records: dict[str, ContainerRecord] = {}
        self.started: dict[str, int] = {}  # id -> looks since start
        self.active = 0
        self.most = 0
        self.lock = threading.Lock()

    def _busy(self, verb: str, name: str) -> None:
        with self.lock:
            self.calls.append((verb, name))
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1

    def create_container(self, config: ContainerConfig, name: str, *, pull: PullPolicy) -> Container:
        self._busy("create", name)
        record = ContainerRecord(f"id-{name}", name, "img", config.image, "", 0.0, config, "runc")
        self.records[record.id] = record
        return Container(record, ContainerState())

    def start_container(self, ref: str) -> Container:
        self._busy("start", self.records[ref].name)
        self.started[ref] = 0
        return self.get_container(ref)

    def get_container(self, ref: str) -> Container:
        record = self.records[ref]
        if ref not in self.started:
            return Container(record, ContainerState(Status.CREATED))
        looks = self.started[ref]
        self.started[ref] += 1
        service = record.config.labels["com.docker.compose.service"]
        status, health, code = self.scripts.get(service, runs)(looks)
        return Container(
            record, ContainerState(status, exit_code=code, health=Health(health) if health else None)
        )

    def stop_container(self, ref: str, *, timeout: int | None = None) -> Container:
        self._busy("stop", ref)
        return self.get_container(ref) if ref in self.records else None  # type: ignore[return-value]

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        self._busy("remove", ref)

    def connect_container(self, network: str, ref: str, **kw: Any) -> None:
        pass

    def get_volume(self, name: str) -> Volume:
        return Volume(name, "local", Path("/"), 0.0, anonymous=name.startswith("anon"))


def project(*services: Service) -> Project:
    return Project("app", Path("/app"), MappingProxyType({s.name: s for s in services}))


def run(
    p: Project, backend: FakeBackend, *, workers: int = 4, observed: list[Observed] | None = None
) -> list[Event]:
    events: list[Event] = []
    plan = make_plan(
        p, from_containers("app", observed or []), Options(start=True), hashes={s: "h" for s in p.services}
    )

    def make(service: Service, number: int) -> Any:
        return service_container(p, service, number)

    executor.run_plan(
        backend,  # type: ignore[arg-type]
        p,
        plan,
        make,
        events.append,
        executor.Settings(workers=workers, poll=0.005),
    )
    return events


def dep(name: str, condition: Condition = Condition.STARTED, **kw: Any) -> Dependency:
    return Dependency(name, condition, **kw)


def test_independent_services_run_in_parallel_bounded_by_the_workers() -> None:
    p = project(*(Service(f"s{i}", image="busybox") for i in range(8)))
    backend = FakeBackend()
    run(p, backend, workers=3)
    assert backend.most == 3
    assert len([c for c in backend.calls if c[0] == "start"]) == 8


def test_a_dependent_is_created_once_its_dependency_is_and_started_after_it() -> None:
    p = project(Service("web", image="b", depends_on=(dep("db"),)), Service("db", image="b"))
    backend = FakeBackend()
    run(p, backend)
    calls = backend.calls
    assert calls[0] == ("create", "app-db-1")
    assert calls.index(("start", "app-db-1")) < calls.index(("start", "app-web-1"))
    assert calls.index(("create", "app-web-1")) < calls.index(("start", "app-web-1"))


def test_a_healthy_dependency_is_waited_for() -> None:
    p = project(
        Service("web", image="b", depends_on=(dep("db", Condition.HEALTHY),)), Service("db", image="b")
    )
    backend = FakeBackend({"db": healthy_after(3)})
    events = run(p, backend)
    assert ("start", "app-web-1") in backend.calls
    words = [(e.name, e.status) for e in events]
    assert words.index(("app-db-1", "Waiting")) < words.index(("app-db-1", "Healthy"))
    assert words.index(("app-db-1", "Healthy")) < words.index(("app-web-1", "Creating"))


@pytest.mark.parametrize(
    ("condition", "script", "message"),
    [
        (
            Condition.HEALTHY,
            unhealthy_after(2),
            "dependency failed to start: container app-db-1 is unhealthy",
        ),
        (Condition.HEALTHY, exits(3), r"dependency failed to start: container app-db-1 exited \(3\)"),
        (
            Condition.HEALTHY,
            runs,
            "dependency failed to start: container app-db-1 has no healthcheck configured",
        ),
        (
            Condition.COMPLETED_SUCCESSFULLY,
            exits(1, after=2),
            'service "db" didn\'t complete successfully: exit 1',
        ),
    ],
)
def test_a_failing_dependency_stops_at_once_and_its_dependent_is_never_made(
    condition: Condition, script: Script, message: str
) -> None:
    p = project(
        Service("web", image="b", depends_on=(dep("db", condition),)),
        Service("db", image="b"),
        Service("top", image="b", depends_on=(dep("web"),)),
    )
    backend = FakeBackend({"db": script})
    with pytest.raises(ComposeError, match=f"^{message}$"):
        run(p, backend)
    assert [name for _, name in backend.calls] == ["app-db-1", "app-db-1"]


def test_a_completed_dependency_lets_its_dependent_go() -> None:
    p = project(
        Service("web", image="b", depends_on=(dep("migrate", Condition.COMPLETED_SUCCESSFULLY),)),
        Service("migrate", image="b"),
    )
    backend = FakeBackend({"migrate": exits(0, after=2)})
    events = run(p, backend)
    assert backend.calls[-1] == ("start", "app-web-1")
    assert ("app-migrate-1", "Exited") in [(e.name, e.status) for e in events]


def test_an_optional_dependency_that_fails_is_a_warning() -> None:
    p = project(
        Service("web", image="b", depends_on=(dep("db", Condition.HEALTHY, required=False),)),
        Service("db", image="b"),
    )
    backend = FakeBackend({"db": unhealthy_after(1)})
    events = run(p, backend)
    assert backend.calls[-1] == ("start", "app-web-1")
    assert any("unhealthy" in e.detail for e in events)


def test_recreate_stops_and_removes_the_old_one_then_makes_the_new() -> None:
    p = project(Service("db", image="b"))
    old = Observed("old-id", "app-db-1", "db", 1, "stale", "img", Status.RUNNING)
    backend = FakeBackend()
    mounts = [MountSpec("volume", "/data", "anon1"), MountSpec("volume", "/named", "app_named")]
    config = ContainerConfig(image="b", mounts=mounts, image_defaults={"Volumes": {"/data": {}}})
    backend.records["old-id"] = ContainerRecord("old-id", "app-db-1", "img", "b", "", 0.0, config, "runc")
    events = run(p, backend, observed=[old])
    # (its anonymous volume at the image's VOLUME is the new one's: Docker Compose's recreate)
    assert backend.records["id-app-db-1"].config.mounts == [MountSpec("volume", "/data", "anon1")]
    assert backend.calls == [
        ("stop", "old-id"),
        ("remove", "old-id"),
        ("create", "app-db-1"),
        ("start", "app-db-1"),
    ]
    assert [e.status for e in events] == ["Recreate", "Recreated", "Starting", "Started"]


def test_an_engine_error_ends_the_run_after_the_work_under_way() -> None:
    class Failing(FakeBackend):
        def create_container(self, config: ContainerConfig, name: str, *, pull: PullPolicy) -> Container:
            if name == "app-bad-1":
                time.sleep(0.05)  # (slow has begun)
                raise ComposeError("no such thing")
            made = super().create_container(config, name, pull=pull)
            if name == "app-slow-1":
                time.sleep(0.2)  # (still under way when bad fails)
            return made

    p = project(
        Service("bad", image="b"),
        Service("slow", image="b"),
        Service("after", image="b", depends_on=(dep("bad"),)),
    )
    backend = Failing()
    with pytest.raises(ComposeError, match="no such thing"):
        run(p, backend)
    assert ("create", "app-slow-1") in backend.calls  # (was under way: finished)
    assert ("start", "app-slow-1") not in backend.calls  # (nothing more starts)
    assert not any(name == "app-after-1" for _, name in backend.calls)


def test_stop_goes_dependents_first_level_by_level() -> None:
    p = project(Service("web", image="b", depends_on=(dep("db"),)), Service("db", image="b"))
    backend = FakeBackend()
    containers = {
        s: [Observed(f"id-{s}", f"app-{s}-1", s, 1, "h", "i", Status.RUNNING)]
        for s in ("db", "web", "orphan")
    }
    executor.stop_containers(
        backend,  # type: ignore[arg-type]
        containers,
        graph.levels(p),
        lambda e: None,
        remove=True,
    )
    stops = [ref for verb, ref in backend.calls if verb == "stop"]
    assert stops == ["id-orphan", "id-web", "id-db"]
    for ref in stops:
        assert backend.calls.index(("stop", ref)) < backend.calls.index(("remove", ref))

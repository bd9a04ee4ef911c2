"""What `up`, `pull` and `build` do with a project's images: Docker Compose v5's decisions as
tables, and ensure_images run on a recording fake backend."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cove.compose.errors import ComposeError
from cove.compose.images import (
    LocalImage,
    RemoveImages,
    effective_policy,
    ensure_images,
    image_name,
    images_to_remove,
    must_build,
    must_pull,
    push_services,
    should_pull_command,
)
from cove.compose.loader import load_project
from cove.compose.model import Build, Project, PullPolicy, Service, pull_refresh_of
from cove.compose.options import ProjectOptions
from cove.compose.progress import Event, Phase
from cove.errors import CoveError, ImageNotFound, NotFound

DAY = 86400.0
NOW = 1_000_000_000.0
FRESH = LocalImage("sha256:1", tagged=NOW - 3600, added=NOW - 10 * DAY)
STALE = LocalImage("sha256:1", tagged=NOW - 2 * DAY, added=NOW - 10 * DAY)
UNTAGGED_OLD = LocalImage("sha256:1", tagged=None, added=NOW - 2 * DAY)

IMAGE = Service("web", image="busybox:1")
BUILD = Service("web", build=Build(context="/ctx"))
BOTH = Service("web", image="reg/app:1", build=Build(context="/ctx"))
P = PullPolicy


@pytest.mark.parametrize(
    ("service", "policy", "local", "refresh", "pulls"),
    [
        (IMAGE, P.MISSING, None, None, True),
        (IMAGE, P.MISSING, FRESH, None, False),
        (IMAGE, P.IF_NOT_PRESENT, None, None, True),
        (IMAGE, P.IF_NOT_PRESENT, FRESH, None, False),
        (IMAGE, P.ALWAYS, FRESH, None, True),
        (IMAGE, P.NEVER, None, None, False),
        (IMAGE, P.BUILD, None, None, False),
        (IMAGE, P.DAILY, None, DAY, True),
        (IMAGE, P.DAILY, FRESH, DAY, False),
        (IMAGE, P.DAILY, STALE, DAY, True),
        (IMAGE, P.DAILY, UNTAGGED_OLD, DAY, True),  # no tag time: the time it was added
        (IMAGE, P.WEEKLY, STALE, 7 * DAY, False),
        (IMAGE, P.REFRESH, STALE, 3600.0, True),  # every_1h
        (IMAGE, P.REFRESH, FRESH, None, False),  # refresh without a window: missing
        (BUILD, P.ALWAYS, None, None, False),  # nothing to pull for a build-only service
        (BOTH, P.MISSING, None, None, True),
        (BOTH, P.BUILD, None, None, False),
    ],
)
def test_must_pull(
    service: Service, policy: PullPolicy, local: LocalImage | None, refresh: float | None, pulls: bool
) -> None:
    assert must_pull(service, policy, local, NOW, refresh=refresh) is pulls


@pytest.mark.parametrize(
    ("service", "policy", "present", "flag", "builds"),
    [
        (BUILD, P.MISSING, False, None, True),
        (BUILD, P.MISSING, True, None, False),
        (BUILD, P.BUILD, True, None, True),
        (BUILD, P.NEVER, False, None, True),  # nothing there to run: built
        (BUILD, P.MISSING, False, False, False),  # --no-build
        (BUILD, P.BUILD, True, False, False),
        (IMAGE, P.MISSING, False, True, False),  # nothing to build with
        (BOTH, P.MISSING, False, None, True),  # the pull failed: built instead
        (BOTH, P.ALWAYS, True, None, False),
    ],
)
def test_must_build(
    service: Service, policy: PullPolicy, present: bool, flag: bool | None, builds: bool
) -> None:
    assert must_build(service, policy, present, flag) is builds


@pytest.mark.parametrize(
    ("service", "pull", "build", "policy"),
    [
        (IMAGE, None, None, P.MISSING),
        (Service("w", image="x", pull_policy=P.NEVER), None, None, P.NEVER),
        (Service("w", image="x", pull_policy=P.NEVER), "always", None, P.ALWAYS),
        (Service("w", image="x", pull_policy=P.ALWAYS), "missing", None, P.MISSING),
        (IMAGE, "build", None, P.BUILD),
        (IMAGE, None, True, P.MISSING),  # --build changes only services that build
        (BOTH, "never", True, P.BUILD),
        (BOTH, None, False, P.MISSING),
    ],
)
def test_effective_policy(service: Service, pull: str | None, build: bool | None, policy: PullPolicy) -> None:
    assert effective_policy(service, pull, build) is policy


def test_invalid_up_pull_is_one_clear_error() -> None:
    with pytest.raises(ComposeError, match='invalid --pull option "sometimes"'):
        effective_policy(IMAGE, "sometimes", None)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("daily", DAY),
        ("weekly", 7 * DAY),
        ("every_12h", 43200.0),
        ("every_1w2d", 9 * DAY),
        ("every_30m", 1800.0),
        ("every_90s", 90.0),
        ("every_", None),
        ("every_5x", None),
        ("always", None),
        (None, None),
    ],
)
def test_pull_refresh_durations(text: str | None, seconds: float | None) -> None:
    assert pull_refresh_of(text) == seconds


def test_every_duration_is_a_refresh_policy(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a: {image: busybox, pull_policy: every_2d}\n  b: {image: busybox, pull_policy: daily}\n"
    )
    project = load_project(ProjectOptions(working_dir=str(tmp_path), environ={}))
    a, b = project.services["a"], project.services["b"]
    assert (a.pull_policy, a.pull_refresh) == (P.REFRESH, 2 * DAY)
    assert (b.pull_policy, b.pull_refresh) == (P.DAILY, DAY)


@pytest.mark.parametrize(
    ("service", "local", "pulls", "why"),
    [
        (IMAGE, FRESH, True, ""),  # no policy: an explicit pull refreshes
        (
            Service("w", image="busybox:1", pull_policy=P.MISSING),
            FRESH,
            False,
            "Image is already present locally",
        ),
        (Service("w", image="busybox", pull_policy=P.MISSING), FRESH, True, ""),  # latest moves
        (Service("w", image="busybox:1", pull_policy=P.MISSING), None, True, ""),
        (Service("w", image="busybox:1", pull_policy=P.DAILY, pull_refresh=DAY), FRESH, True, ""),
        (Service("w", image="busybox:1", pull_policy=P.NEVER), None, False, ""),
        (Service("w", image="busybox:1", pull_policy=P.BUILD), None, False, ""),
        (BUILD, None, False, "No image to be pulled"),
    ],
)
def test_pull_command_choice(service: Service, local: LocalImage | None, pulls: bool, why: str) -> None:
    assert should_pull_command(service, local, NOW) == (pulls, why)


def test_image_names() -> None:
    project = Project("app", Path("/p"), {"web": BUILD})
    assert image_name(project, BUILD) == "app-web"
    assert image_name(project, BOTH) == "reg/app:1"


# -- ensure_images on a recording backend ----------------------------------------------------------


@dataclass
class Details:
    id: str
    added: float
    tagged: float | None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeBackend:
    images: dict[str, Details] = field(default_factory=dict)
    unpullable: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inspect_image(self, name: str) -> Details:
        if name not in self.images:
            raise ImageNotFound(name)
        return self.images[name]

    def pull_image(self, name: str, **kw: Any) -> str:
        with self.lock:
            self.calls.append(("pull", name))
        if name in self.unpullable:
            raise NotFound(f"pull access denied for {name}")
        self.images[name] = Details("sha256:pulled", NOW, NOW)
        return "sha256:pulled"

    def build_image(self, context: Path, **kw: Any) -> str:
        with self.lock:
            self.calls.append(("build", kw["tags"][0]))
            self.builds.append({"context": context, **kw})
        for tag in kw["tags"]:
            self.images[tag] = Details("sha256:built", NOW, NOW)
        return "sha256:built"

    def list_images(self, filters: dict[str, list[str]]) -> list[Any]:
        assert filters == {"label": ["com.docker.compose.project=app"], "dangling": ["false"]}
        return [s for s in self.summaries if s.labels.get("com.docker.compose.project") == "app"]

    def push_image(self, name: str, **kw: Any) -> None:
        with self.lock:
            self.calls.append(("push", name))
        if name in self.unpullable:
            raise NotFound(f"push to {name} denied")


def project_of(**services: Service) -> Project:
    return Project("app", Path("/p"), services, environment={"FROM_ENV": "e"})


def run(backend: FakeBackend, project: Project, **kw: Any) -> tuple[dict[str, str], list[Event]]:
    events: list[Event] = []
    images = ensure_images(backend, project, list(project.services), report=events.append, **kw)  # type: ignore[arg-type]
    return images, events


def test_up_pulls_missing_builds_build_only_and_leaves_present_images() -> None:
    backend = FakeBackend(images={"busybox:1": Details("sha256:b", NOW, NOW)})
    project = project_of(
        db=Service("db", image="busybox:1"),
        cache=Service("cache", image="redis:7"),
        web=Service("web", build=Build(context="/ctx")),
    )
    images, events = run(backend, project)
    assert images == {"db": "busybox:1", "cache": "redis:7", "web": "app-web"}
    assert sorted(backend.calls) == [("build", "app-web"), ("pull", "redis:7")]
    done = [(e.name, e.status) for e in events if e.phase is Phase.DONE]
    assert sorted(done) == [("app-web", "Built"), ("redis:7", "Pulled")]


def test_a_failed_pull_of_a_buildable_image_falls_back_to_its_build() -> None:
    backend = FakeBackend(unpullable={"reg/app:1"})
    project = project_of(web=Service("web", image="reg/app:1", build=Build(context="/ctx")))
    images, events = run(backend, project)
    assert images == {"web": "reg/app:1"}
    assert backend.calls == [("pull", "reg/app:1"), ("build", "reg/app:1")]
    assert [e.phase for e in events if e.status == "Error"] == [Phase.WARNING]


def test_a_failed_pull_without_a_build_is_the_error() -> None:
    backend = FakeBackend(unpullable={"nope:1"})
    with pytest.raises(CoveError, match="pull access denied for nope:1"):
        run(backend, project_of(x=Service("x", image="nope:1")))


def test_no_build_refuses_a_missing_image_it_would_build() -> None:
    backend = FakeBackend()
    with pytest.raises(NotFound, match="service web: its image app-web is not built"):
        run(backend, project_of(web=Service("web", build=Build(context="/ctx"))), build=False)
    assert backend.calls == []


def test_never_with_a_missing_image_names_the_service() -> None:
    with pytest.raises(NotFound, match="service x: no such image: busybox:1"):
        run(FakeBackend(), project_of(x=Service("x", image="busybox:1", pull_policy=P.NEVER)))


def test_build_flag_rebuilds_present_images_and_up_pull_always_pulls_every_image() -> None:
    present = {"app-web": Details("sha256:w", NOW, NOW), "busybox:1": Details("sha256:b", NOW, NOW)}
    backend = FakeBackend(images=dict(present))
    project = project_of(web=Service("web", build=Build(context="/ctx")), db=Service("db", image="busybox:1"))
    run(backend, project, build=True, pull="always")
    assert sorted(backend.calls) == [("build", "app-web"), ("pull", "busybox:1")]


def test_one_image_of_several_services_is_pulled_once() -> None:
    backend = FakeBackend()
    project = project_of(a=Service("a", image="busybox:1"), b=Service("b", image="busybox:1"))
    run(backend, project)
    assert backend.calls == [("pull", "busybox:1")]


def test_build_request_carries_labels_args_target_and_inline_dockerfile() -> None:
    backend = FakeBackend()
    spec = Build(
        context="/ctx",
        dockerfile_inline="FROM busybox\n",
        args={"A": "1", "FROM_ENV": None, "UNSET": None},
        target="final",
        labels={"mine": "yes"},
        tags=("reg/extra:1",),
    )
    run(backend, project_of(web=Service("web", build=spec)))
    [request] = backend.builds
    assert request["context"] == Path("/ctx")
    assert request["dockerfile_text"] == "FROM busybox\n" and request["dockerfile"] is None
    assert request["build_args"] == {
        "A": "1",
        "FROM_ENV": "e",
    }  # a bare arg from the environment, or left out
    assert request["target"] == "final"
    assert request["tags"] == ["app-web", "reg/extra:1"]
    assert request["labels"] == {
        "mine": "yes",
        "com.docker.compose.project": "app",
        "com.docker.compose.service": "web",
        "com.docker.compose.version": "5.6.1",
    }


def test_ssh_in_a_build_is_refused_naming_the_service_and_key() -> None:
    project = project_of(web=Service("web", build=Build(context="/ctx", ssh=("default",))))
    with pytest.raises(ComposeError, match=r"services\.web\.build\.ssh: cove's builder does not forward"):
        run(FakeBackend(), project)


def test_push_skips_services_without_both_build_and_image_and_reports_failures() -> None:
    backend = FakeBackend(unpullable={"reg/b:1"})
    project = project_of(
        a=Service("a", image="reg/a:1", build=Build(context="/a", tags=("reg/a:extra",))),
        b=Service("b", image="reg/b:1", build=Build(context="/b")),
        c=Service("c", image="busybox"),
    )
    events: list[Event] = []
    push_services(backend, project, ["a", "b", "c"], ignore_failures=True, report=events.append)  # type: ignore[arg-type]
    assert sorted(backend.calls) == [("push", "reg/a:1"), ("push", "reg/a:extra"), ("push", "reg/b:1")]
    assert ("c", "Skipped") in [(e.name, e.status) for e in events]
    with pytest.raises(NotFound, match="push to reg/b:1 denied"):
        push_services(backend, project, ["b"])  # type: ignore[arg-type]


@dataclass
class Summary:
    repo_tags: list[str]
    labels: dict[str, str]


@pytest.mark.parametrize(
    ("mode", "orphans", "removed"),
    [
        (RemoveImages.LOCAL, False, ["app-web", "app-job"]),
        (RemoveImages.LOCAL, True, ["app-web", "app-gone", "app-job"]),
        (RemoveImages.ALL, False, ["busybox", "app-web", "app-job"]),
    ],
)
def test_down_rmi_finds_what_the_project_built_and_with_all_what_it_names(
    mode: RemoveImages, orphans: bool, removed: list[str]
) -> None:
    here = Details("sha256:x", NOW, NOW)
    backend = FakeBackend(
        images={"busybox": here, "busybox:latest": here, "app-web": here, "app-gone": here, "app-job": here},
        summaries=[
            Summary(["app-web"], {"com.docker.compose.project": "app", "com.docker.compose.service": "web"}),
            Summary(
                ["app-gone"], {"com.docker.compose.project": "app", "com.docker.compose.service": "gone"}
            ),
            Summary([], {"com.docker.compose.project": "app", "com.docker.compose.service": "web"}),
        ],
    )
    project = project_of(
        db=Service("db", image="busybox"),
        db2=Service("db2", image="busybox:latest"),  # the same image, removed once
        web=Service("web", build=Build(context="/w")),
        job=Service("job", build=Build(context="/j")),  # built, but not labelled: by its name
        missing=Service("missing", image="nowhere:1"),
    )
    assert images_to_remove(backend, project, mode, remove_orphans=orphans) == removed  # type: ignore[arg-type]

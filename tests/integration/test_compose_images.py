"""A project's images for real: built (named <project>-<service>, labelled, args, target,
dockerfile_inline) and run; pulled from a local registry under each policy; pushed to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.compose.convert import service_container
from cove.compose.images import RemoveImages, ensure_images, images_to_remove, push_services
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.options import ProjectOptions
from cove.compose.progress import Event
from cove.engine.compose_backend import LocalBackend
from cove.engine.requests import NetworkKind, NetworkMode
from cove.errors import NotFound
from cove.policies import PullPolicy
from tests.conftest import CoveRunner
from tests.helpers.registry import Registry, skopeo_inspect

pytestmark = pytest.mark.integration


@pytest.fixture
def backend(cove_busybox: CoveRunner) -> Iterator[LocalBackend]:
    engine = cove_busybox.engine()
    try:
        yield LocalBackend(engine)
    finally:
        engine.close()


def load(directory: Path, text: str, name: str, environ: dict[str, str] | None = None) -> Project:
    (directory / "compose.yaml").write_text(text)
    return load_project(ProjectOptions(working_dir=str(directory), project_name=name, environ=environ or {}))


def run_service(backend: LocalBackend, project: Project, service: str, image: str) -> str:
    """The output of the service's container, run once to its end."""
    made = service_container(project, project.services[service], 1, image=image)
    config = dataclasses.replace(made.config, network=NetworkMode(NetworkKind.NONE), network_aliases=[])
    container = backend.create_container(config, made.name, pull=PullPolicy.NEVER)
    try:
        backend.start_container(container.record.id)
        assert backend.engine.containers.wait(container.record.id) == 0
        return "".join(text for _, _, text in backend.logs(container.record.id))
    finally:
        backend.remove_container(container.record.id, force=True)


def labels(backend: LocalBackend, image: str) -> dict[str, str]:
    return dict(backend.inspect_image(image).config["config"].get("Labels") or {})


BUILD = """
services:
  web:
    build:
      context: ./app
      dockerfile: web.Dockerfile
      target: final
      args:
        GREETING: hello
        FROM_ENV:
      labels:
        mine: "yes"
    command: ["cat", "/greeting"]
  inline:
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        RUN echo inline > /said
    command: ["cat", "/said"]
"""

WEB_DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=unset
ARG FROM_ENV=unset
RUN echo "$GREETING $FROM_ENV" > /greeting

FROM base AS final
LABEL stage=final

FROM base AS other
RUN echo other > /greeting
"""


def test_build_services_are_named_labelled_and_run(backend: LocalBackend, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "web.Dockerfile").write_text(WEB_DOCKERFILE)
    project = load(tmp_path, BUILD, "imgbuild", {"FROM_ENV": "from-env"})
    events: list[Event] = []
    images = ensure_images(backend, project, ["web", "inline"], report=events.append)
    assert images == {"web": "imgbuild-web", "inline": "imgbuild-inline"}
    assert sorted((e.name, e.status) for e in events) == [
        ("imgbuild-inline", "Building"), ("imgbuild-inline", "Built"),
        ("imgbuild-web", "Building"), ("imgbuild-web", "Built"),
    ]  # fmt: skip
    assert labels(backend, "imgbuild-web") == {
        "mine": "yes",
        "stage": "final",
        "com.docker.compose.project": "imgbuild",
        "com.docker.compose.service": "web",
        "com.docker.compose.version": "5.6.1",
    }
    assert run_service(backend, project, "web", images["web"]) == "hello from-env\n"
    assert run_service(backend, project, "inline", images["inline"]) == "inline\n"

    # A second up leaves built images alone; --build builds again; --no-build never builds.
    first = backend.inspect_image("imgbuild-web").id
    again: list[Event] = []
    ensure_images(backend, project, ["web", "inline"], report=again.append)
    assert again == []
    rebuilt: list[Event] = []
    ensure_images(backend, project, ["web"], build=True, report=rebuilt.append)
    assert [(e.name, e.status) for e in rebuilt] == [("imgbuild-web", "Building"), ("imgbuild-web", "Built")]
    assert backend.inspect_image("imgbuild-web").id == first  # the same build, from the cache

    # down --rmi local: what the project built, found by its labels, and nothing else.
    doomed = images_to_remove(backend, project, RemoveImages.LOCAL)
    assert sorted(doomed) == ["imgbuild-inline:latest", "imgbuild-web:latest"]
    for image in doomed:
        backend.remove_image(image)
    assert images_to_remove(backend, project, RemoveImages.ALL) == []
    assert backend.inspect_image("busybox").repo_tags == ["busybox:latest"]
    with pytest.raises(NotFound, match="service web: its image imgbuild-web is not built"):
        ensure_images(backend, project, ["web"], build=False)


PULL = """
services:
  app:
    image: {image}
    pull_policy: {policy}
    command: ["cat", "/version"]
"""


def _publish(cove: CoveRunner, tmp_path: Path, registry: Registry, version: str) -> str:
    """Push an image whose /version says ``version`` as <registry>/bb:1; its local ID."""
    context = tmp_path / f"v{version}"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM busybox\nRUN echo {version} > /version\n")
    name = f"{registry.host}/bb:1"
    cove("build", "-q", "-t", name, str(context))
    cove("push", "-q", name)
    image_id = cove("image", "inspect", "--format", "{{.Id}}", name).out.strip()
    cove("rmi", name)
    return image_id


def _up(backend: LocalBackend, tmp_path: Path, image: str, policy: str) -> tuple[str, list[str]]:
    project = load(tmp_path, PULL.format(image=image, policy=policy), "imgpull")
    events: list[Event] = []
    ensure_images(backend, project, ["app"], report=events.append)
    return run_service(backend, project, "app", image), [e.status for e in events]


def test_pull_policies_against_a_registry(
    cove_busybox: CoveRunner, backend: LocalBackend, registry: Registry, tmp_path: Path
) -> None:
    image = f"{registry.host}/bb:1"
    _publish(cove_busybox, tmp_path, registry, "1")

    with pytest.raises(NotFound, match=f"service app: no such image: {image}"):
        _up(backend, tmp_path, image, "never")
    assert _up(backend, tmp_path, image, "missing") == ("1\n", ["Pulling", "Pulled"])

    cove_busybox("tag", image, "keep:1")
    _publish(cove_busybox, tmp_path, registry, "2")
    cove_busybox("tag", "keep:1", image)  # here 1, in the registry 2

    assert _up(backend, tmp_path, image, "missing") == ("1\n", [])
    assert _up(backend, tmp_path, image, "never") == ("1\n", [])
    assert _up(backend, tmp_path, image, "daily") == ("1\n", [])  # tagged just now
    assert _up(backend, tmp_path, image, "always") == ("2\n", ["Pulling", "Pulled"])
    assert _up(backend, tmp_path, image, "missing") == ("2\n", [])


def test_a_failed_pull_of_a_buildable_image_builds_it(
    backend: LocalBackend, registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo built > /version\n")
    image = f"{registry.host}/never-pushed:1"
    text = f"services:\n  app:\n    image: {image}\n    build: .\n    command: [cat, /version]\n"
    project = load(tmp_path, text, "imgfallback")
    events: list[Event] = []
    ensure_images(backend, project, ["app"], report=events.append)
    assert [(e.status, e.phase.value) for e in events] == [
        ("Pulling", "working"), ("Error", "warning"), ("Building", "working"), ("Built", "done"),
    ]  # fmt: skip
    assert run_service(backend, project, "app", image) == "built\n"


def test_push_a_service_image(backend: LocalBackend, registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo pushed > /version\n")
    image = f"{registry.host}/team/app:1"
    text = f"services:\n  app:\n    image: {image}\n    build: .\n  other:\n    image: busybox\n"
    project = load(tmp_path, text, "imgpush")
    ensure_images(backend, project, ["app"])
    events: list[Event] = []
    push_services(backend, project, ["app", "other"], report=events.append)
    assert [(e.name, e.status) for e in events] == [
        ("other", "Skipped"),
        (image, "Pushing"),
        (image, "Pushed"),
    ]
    pushed = skopeo_inspect(registry, "team/app:1")
    assert pushed["Labels"]["com.docker.compose.service"] == "app"
    assert pushed["Labels"]["com.docker.compose.project"] == "imgpush"


def test_build_pull_and_push_commands(cove_busybox: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    cove = cove_busybox
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG WORD=plain\nRUN echo $WORD > /version\n")
    image = f"{registry.host}/cli/app:1"
    text = (
        f"name: imgcli\nservices:\n  app:\n    image: {image}\n    build: .\n"
        "  base:\n    image: busybox\n    pull_policy: missing\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    compose = ("compose", "-f", str(tmp_path / "compose.yaml"))

    cove.env["WORD"] = "cli"  # a bare --build-arg takes it from the project's environment
    built = cove(*compose, "build", "--build-arg", "WORD", "app")
    assert f" ✔ Image {image} Built\n" in built.err
    assert "RUN echo $WORD > /version" in built.err  # the build's own steps
    ran = cove.proc("run", "--rm", image, "cat", "/version")
    assert ran.stdout == b"cli\n"
    assert cove(*compose, "build", "-q").err == ""

    pushed = cove(*compose, "push")
    assert f" ✔ Image {image} Pushed\n" in pushed.err and " ✔ Service base Skipped\n" in pushed.err

    cove("rmi", image)
    # busybox:latest is asked for again (a latest tag moves), and this machine cannot reach Docker Hub.
    failed = cove(*compose, "pull", check=False)
    assert failed.rc == 1 and "Error: cannot reach registry registry-1.docker.io" in failed.err
    assert f" ✔ Image {image} Pulled\n" in failed.err
    assert " ✘ Image busybox Error cannot reach registry registry-1.docker.io" in failed.err
    ignored = cove(*compose, "pull", "--ignore-pull-failures")
    assert " ! Image busybox Error cannot reach" in ignored.err
    cove("rmi", image)
    assert cove(*compose, "pull", "app").err == f"   Image {image} Pulling\n ✔ Image {image} Pulled\n"
    assert cove(*compose, "pull", "-q", "app").err == ""
    skipped = cove(*compose, "pull", "--policy", "missing", "app")
    assert skipped.err == f" ✔ Image {image} Skipped Image is already present locally\n"

    bad = cove(*compose, "pull", "--policy", "never", check=False)
    assert bad.rc != 0 and 'invalid --policy option "never"' in bad.err


def test_build_secrets_from_a_file_and_the_environment(backend: LocalBackend, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=secret,id=tok --mount=type=secret,id=filed "
        "cat /run/secrets/tok /run/secrets/filed > /seen\n"
    )
    (tmp_path / "filed.txt").write_text("+file")
    text = (
        "services:\n  app:\n    build:\n      context: .\n      secrets:\n"
        "        - source: token\n          target: tok\n        - filed\n"
        "    command: [cat, /seen]\n"
        "secrets:\n  token: {environment: TOKEN}\n  filed: {file: ./filed.txt}\n"
    )
    project = load(tmp_path, text, "imgsecret", {"TOKEN": "env"})
    images = ensure_images(backend, project, ["app"])
    assert run_service(backend, project, "app", images["app"]) == "env+file"
    backend.remove_image(images["app"])

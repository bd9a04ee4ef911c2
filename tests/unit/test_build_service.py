"""The build service keeps nothing of one request: each build runs on a backend of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.build.dockerfile import DockerfileError
from cove.config import load_config
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.build import BuildRequest, BuildService
from cove.engine.build_backend import LocalBuildBackend
from cove.engine.store import Store
from cove.host.runner import RunResult
from cove.images.store import ImageStore
from cove.snapshots.copy import CopySnapshotter


class NoRunner:
    def run(self, argv: object, **kw: object) -> RunResult:
        raise AssertionError(f"nothing is run here: {argv}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[BuildService, list[tuple[str, Path | None]]]]:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "cove.toml").write_text("")
    config = load_config({"COVE_ROOT": str(root), "COVE_CONFIG": str(tmp_path / "cove.toml")})
    db = Database(root / "cove.db")
    content = ContentStore(root / "content")
    snapshotter = CopySnapshotter(root / "snapshots", db, NoRunner())
    store = Store(config, root, db, content, snapshotter, ImageStore(db, content), NoRunner(), "test")
    pulled: list[tuple[str, Path | None]] = []

    def pull(name: str, platform: str, docker_config: Path | None) -> None:
        pulled.append((name, docker_config))  # and finds nothing: the image stays missing

    builds = BuildService(store, pull)
    yield builds, pulled
    builds.close()
    db.close()


def _request(tmp_path: Path, dockerfile: str, docker_config: Path | None) -> BuildRequest:
    context = tmp_path / "context"
    context.mkdir(exist_ok=True)
    (context / "hello.txt").write_text("hello\n")
    return BuildRequest(dockerfile=dockerfile, context=context, docker_config=docker_config)


def test_each_request_gets_a_backend_of_its_own(service: tuple[BuildService, list], tmp_path: Path) -> None:
    builds, _ = service
    first, second = builds.backend(tmp_path / "a"), builds.backend(tmp_path / "b")
    assert isinstance(first, LocalBuildBackend) and first is not second
    assert first.cache is builds.cache  # what every build shares, they share


def test_a_build_sets_nothing_on_the_service(service: tuple[BuildService, list], tmp_path: Path) -> None:
    builds, _ = service
    before = dict(vars(builds))
    result = builds.build(_request(tmp_path, "FROM scratch\nCOPY hello.txt /\n", tmp_path / "creds"), print)
    assert result.image_id.startswith("sha256:") and result.steps >= 1
    assert set(vars(builds)) == set(before)
    assert [name for name, value in vars(builds).items() if value is not before[name]] == []


def test_base_images_are_pulled_with_their_own_requests_credentials(
    service: tuple[BuildService, list], tmp_path: Path
) -> None:
    builds, pulled = service
    for creds in ("one", "two"):
        with pytest.raises(DockerfileError, match="No such image"):
            builds.build(_request(tmp_path, "FROM example.test/base\n", tmp_path / creds), lambda event: None)
    assert [config for _, config in pulled] == [tmp_path / "one", tmp_path / "two"]

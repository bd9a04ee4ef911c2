"""The typed project built from the golden fixture 'full' (its keys checked against Compose v5 there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cove.compose.loader import load_project
from cove.compose.model import Condition, Mount, MountType, PullPolicy
from cove.compose.options import ProjectOptions

FULL = Path(__file__).parent / "projects" / "full"


@pytest.fixture(scope="module")
def project():  # type: ignore[no-untyped-def]
    return load_project(ProjectOptions(working_dir=str(FULL), environ={}))


def test_project(project) -> None:  # type: ignore[no-untyped-def]
    assert project.name == "full_app"
    assert project.working_dir == FULL
    assert sorted(project.services) == ["cache", "web", "worker"]
    assert project.networks["front"].name == "full_app_front"
    assert project.volumes["cachedata"].external and project.volumes["cachedata"].name == "cachedata"
    assert project.configs["app_cfg"].content == "hello\n"
    assert project.secrets["token"].environment == "TOKEN"


def test_service_keys(project) -> None:  # type: ignore[no-untyped-def]
    web = project.services["web"]
    assert web.image == "myapp:latest"
    assert web.build is not None and web.build.context == str(FULL / "app")
    assert web.entrypoint == ("/bin/sh", "-c") and web.command == ("echo hi",)
    assert web.environment == {
        "FLAG": "true", "FROM_BASE": "1", "FROM_ENV": "override", "FROM_FILE": "yes", "NUM": "5",
    }  # fmt: skip
    assert [(p.target, p.published, p.host_ip) for p in web.ports] == [
        (3000, None, None),
        (5000, "5000", "::1"),
    ]
    assert [n.name for n in web.networks] == ["front"]
    dep = web.depends_on[0]
    assert (dep.service, dep.condition, dep.required, dep.restart) == ("cache", Condition.HEALTHY, True, True)
    assert {(u.name, u.soft, u.hard) for u in web.ulimits} == {("nofile", 1024, 2048), ("nproc", 512, 512)}
    assert web.stop_grace_period == 30.0 and web.init is True and web.read_only is True
    assert web.pull_policy is PullPolicy.ALWAYS
    assert web.tmpfs == ("/run",) and web.dns == ("8.8.8.8",)
    assert web.devices[0].permissions == "rwm"
    assert web.secrets[0].target == "/run/secrets/token"
    assert web.logging is not None and web.logging.options == {"max-size": "10m"}


def test_cache(project) -> None:  # type: ignore[no-untyped-def]
    cache = project.services["cache"]
    assert cache.healthcheck.test == ("CMD", "redis-cli", "ping")
    assert (cache.healthcheck.interval, cache.healthcheck.start_interval) == (1.0, 0.5)
    assert cache.deploy.limits.memory == 256 << 20 and cache.deploy.limits.cpus == 0.5
    assert cache.volumes[0] == Mount(MountType.VOLUME, "/data", "cachedata", nocopy=True)
    assert cache.volumes[1].source == str(FULL / "conf") and cache.volumes[1].create_host_path
    assert project.services["worker"].replicas == 1


def test_secret_modes_are_integers(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: a\n    secrets:\n"
        "      - source: s\n        uid: '1000'\n        mode: 0440\n"
        "secrets:\n  s:\n    file: ./s.txt\n"
    )
    ref = load_project(ProjectOptions(working_dir=str(tmp_path), environ={})).services["a"].secrets[0]
    assert (ref.uid, ref.mode, ref.target) == ("1000", 0o440, "/run/secrets/s")

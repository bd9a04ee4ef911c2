"""Fixtures for all suites.

``COVE_TEST_REQUIRE=1`` (set by ``make test`` and CI) turns every "this host lacks X"
skip into a failure, so a CI machine that misses a capability fails loudly.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.cli.app import Cli
from cove.cli.main import main
from cove.config import load_config
from cove.engine.bootstrap import Engine, open_engine
from cove.engine.networks import HostNames, release_host_objects
from cove.host.runner import SubprocessRunner
from cove.oci.platform import host_platform
from tests.helpers.registry import Registry, TokenServer

REPO = Path(__file__).resolve().parent.parent
REQUIRE = os.environ.get("COVE_TEST_REQUIRE") == "1"
CACHE = REPO / ".cache"


def need(condition: bool, why: str) -> None:
    """Skip (or, when CI requires everything, fail) a test that this host cannot run."""
    if condition:
        return
    if REQUIRE:
        pytest.fail(f"this run requires it, but: {why}")
    pytest.skip(why)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class CoveRunner:
    """Runs cove against one private root: in-process (fast) or as a real process."""

    made: list[CoveRunner] = []  # every runner, in order: each test releases what its own made

    def __init__(self, root: Path, runtime_dir: Path, config: Path) -> None:
        CoveRunner.made.append(self)
        self.root = root
        self.runtime_dir = runtime_dir
        self.env = {
            **os.environ,
            "COVE_ROOT": str(root),
            "COVE_RUNTIME_DIR": str(runtime_dir),
            "COVE_CONFIG": str(config),
            # Commands run in their own processes here; tests/integration/test_command_server.py
            # covers the command server.
            "COVE_COMMAND_SERVER": "0",
        }
        self.env.pop("COVE_STORAGE_DRIVER", None)

    def __call__(self, *args: str, input: str = "", check: bool = True) -> Result:
        out, err = io.StringIO(), io.StringIO()
        cli = Cli(stdout=out, stderr=err, stdin=io.StringIO(input), env=self.env)
        rc = main(list(args), cli)
        result = Result(rc, out.getvalue(), err.getvalue())
        if check and rc != 0:
            raise AssertionError(f"cove {' '.join(args)} failed: {result}")
        return result

    def proc(
        self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``python -m cove ARGS`` as a separate process."""
        proc = subprocess.run(
            [sys.executable, "-m", "cove", *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            output = f"{proc.stdout.decode()}\n{proc.stderr.decode()}"
            raise AssertionError(f"cove {' '.join(args)} failed rc={proc.returncode}\n{output}")
        return proc

    def popen(self, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "cove", *args], env=self.env, **kw)  # type: ignore[call-overload]

    def with_driver(self, driver: str) -> CoveRunner:
        self.env["COVE_STORAGE_DRIVER"] = driver
        return self

    def engine(self) -> Engine:
        return open_engine(load_config(self.env))

    def netns(self, container_id: str) -> str:
        """The name of a container's network namespace in this store."""
        engine = self.engine()
        try:
            return engine.networks.netns_name(container_id)
        finally:
            engine.close()


def _new_runner(base: Path) -> CoveRunner:
    base.mkdir(parents=True, exist_ok=True)
    config = base / "cove.toml"
    config.write_text("")
    return CoveRunner(base / "root", base / "run", config)


def _remove_containers(runner: CoveRunner) -> None:
    """Whatever containers a test left (it failed halfway): gone, with their mounts and monitors."""
    directory = runner.root / "containers"
    if directory.is_dir() and any(p.name[:1] != "." for p in directory.iterdir()):
        ids = runner("ps", "-aq", "--no-trunc", check=False).out.split()
        if ids:
            runner("rm", "-f", *ids, check=False)


@pytest.fixture
def cove(tmp_path: Path) -> Iterator[CoveRunner]:
    """An empty cove store of its own."""
    need_root()
    runner = _new_runner(tmp_path / "cove")
    yield runner
    _remove_containers(runner)


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding busybox:latest, made once and copied for each test that wants one."""
    need_root()
    need(Path("/bin/busybox").exists(), "busybox-static is not installed")
    runner = _new_runner(tmp_path_factory.mktemp("busybox-template"))
    runner("image", "bootstrap", "busybox", "-q")
    return runner.root


def copy_store(template: Path, base: Path) -> CoveRunner:
    """A new store at ``base`` that starts as a copy of the store ``template``."""
    runner = _new_runner(base)
    subprocess.run(["cp", "-a", str(template), str(runner.root)], check=True)
    return runner


@pytest.fixture
def cove_busybox(tmp_path: Path, busybox_template: Path) -> Iterator[CoveRunner]:
    """A cove store of its own that already holds busybox:latest."""
    runner = copy_store(busybox_template, tmp_path / "cove")
    yield runner
    _remove_containers(runner)


@pytest.fixture
def other_busybox(tmp_path: Path, busybox_template: Path) -> Iterator[CoveRunner]:
    """A second store with busybox:latest, beside ``cove_busybox``."""
    runner = copy_store(busybox_template, tmp_path / "other")
    yield runner
    _remove_containers(runner)


@pytest.fixture(scope="session")
def debian_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Debian bookworm minbase rootfs tarball, kept in .cache/ across runs.

    When it is not there yet, ``cove image bootstrap debian:bookworm --cache-dir .cache``
    makes it, so a clean checkout runs cove's real mmdebstrap path once.
    """
    need_root()
    need_tool("mmdebstrap")
    path = CACHE / f"debian-bookworm-minbase-{host_platform().architecture}.tar"
    if not path.exists():
        runner = _new_runner(tmp_path_factory.mktemp("debian-bootstrap"))
        runner("image", "bootstrap", "debian:bookworm", "--cache-dir", str(CACHE), "-q")
        assert runner("images", "--format", "{{.Repository}}:{{.Tag}}").out == "debian:bookworm\n"
    assert path.exists()
    return path


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[list[Path]]:
    """Mount points a test made; whatever is still mounted at the end gets unmounted."""
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


# --------------------------------------------------------------------------- OCI registries on 127.0.0.1


def _need_registry() -> None:
    need_tool("docker-registry")
    need_tool("openssl")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A distribution registry serving plain HTTP, no auth."""
    _need_registry()
    with Registry(tmp_path / "registry") as reg:
        yield reg


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry serving HTTPS with a certificate from a test CA (``tls_registry.ca_path``)."""
    _need_registry()
    with Registry(tmp_path / "tls-registry", tls=True) as reg:
        yield reg


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[Registry]:
    """A plain HTTP registry with basic auth: alice / wonderland."""
    _need_registry()
    need_tool("htpasswd")
    with Registry(tmp_path / "basic-registry", users={"alice": "wonderland"}) as reg:
        yield reg


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[Registry, TokenServer]]:
    """A plain HTTP registry with token auth, and its token server.

    alice / wonderland may pull and push; mallory / x is known but denied everything;
    anonymous clients may pull.
    """
    _need_registry()
    server = TokenServer(
        tmp_path / "token-server",
        users={"alice": "wonderland", "mallory": "x"},
        denied={"mallory"},
        anonymous_pull=True,
    )
    with server, Registry(tmp_path / "token-registry", token_server=server) as reg:
        yield reg, server


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """An empty directory to point DOCKER_CONFIG at."""
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- host network objects


def release_host_network(runner: CoveRunner) -> None:
    """Remove what ``runner``'s store made on the host (namespaces, links, rules, its DNS
    server), by the store's own names: another store's or engine's objects stay. Its user
    networks' bridges come from its records; without them (a store gone with its directory)
    what its root's name alone tells is released."""
    names = HostNames.of(runner.root)
    bridges: list[str] | None = None
    database = f"file:{runner.root / 'cove.db'}?mode=ro"
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(database, uri=True)) as db:
        bridges = [row[0] for row in db.execute("SELECT bridge FROM networks")]
    made_nothing = bridges == [] and not Path("/sys/class/net", names.default_bridge).exists()
    if made_nothing and not (runner.runtime_dir / "dns").exists():
        return  # (most tests: no network, so no namespace, rule or DNS server either)
    release_host_objects(names, runner.runtime_dir, SubprocessRunner(), bridges or [])


@pytest.fixture(autouse=True)
def _release_host_network(tmp_path: Path) -> Iterator[None]:
    """The stores a test made leave nothing on the host (a test that forgets a container, or
    fails halfway, must not leak its namespaces, bridges or rules into the next). It asks for
    ``tmp_path`` so that it ends before that directory, which holds the stores, is removed."""
    first = len(CoveRunner.made)
    yield
    made, CoveRunner.made[first:] = CoveRunner.made[first:], []
    for runner in made:
        release_host_network(runner)

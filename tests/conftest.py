"""Fixtures for all suites.

``COVE_TEST_REQUIRE=1`` (set by ``make test`` and CI) turns every "this host lacks X"
skip into a failure, so a CI machine that misses a capability fails loudly.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
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

    def __init__(self, root: Path, runtime_dir: Path, config: Path) -> None:
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


@pytest.fixture
def cove_busybox(tmp_path: Path, busybox_template: Path) -> Iterator[CoveRunner]:
    """A cove store of its own that already holds busybox:latest."""
    runner = _new_runner(tmp_path / "cove")
    subprocess.run(["cp", "-a", str(busybox_template), str(runner.root)], check=True)
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


def _cove_links() -> set[str]:
    return {p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(("cove", "veth"))}


def _cove_netns() -> set[str]:
    netns = Path("/run/netns")
    return {p.name for p in netns.iterdir() if p.name.startswith("cove-")} if netns.is_dir() else set()


@pytest.fixture(autouse=True)
def _release_host_network() -> Iterator[None]:
    """Remove the bridges, namespaces and nftables tables a test's stores made on the host
    (each test store has its own; a test that forgets them must not leak them)."""
    links, namespaces = _cove_links(), _cove_netns()
    yield
    for name in sorted(_cove_netns() - namespaces):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    new_links = _cove_links() - links
    for name in sorted(new_links):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    if new_links:
        _stop_dns_servers()
        _remove_iptables_chains()
        tables = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, check=False)
        for line in tables.stdout.decode().splitlines():
            table = line.split()[-1] if line.startswith("table ip ") else ""
            if table.startswith("cove_"):
                subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)
                chain = table.upper().replace("_", "-") + "-FORWARD"
                subprocess.run(
                    ["iptables", "-w", "-D", "FORWARD", "-j", chain], capture_output=True, check=False
                )
                subprocess.run(["iptables", "-w", "-F", chain], capture_output=True, check=False)
                subprocess.run(["iptables", "-w", "-X", chain], capture_output=True, check=False)


def _stop_dns_servers() -> None:
    """The DNS servers of test stores (they would leave by themselves a minute later)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and argv[-3].endswith(b"cove/network/dns.py") and b"/pytest-" in argv[-2]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def _remove_iptables_chains() -> None:
    """Chains of test stores that used the iptables firewall (COVE-<hash>-...)."""
    saved = subprocess.run(["iptables-save"], capture_output=True, check=False).stdout.decode()
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and " -j COVE-" in line:
            rule = line[3:].split()
            subprocess.run(["iptables", "-w", "-t", table, "-D", *rule], capture_output=True, check=False)
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":COVE-"):
            chain = line[1:].split()[0]
            subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True, check=False)
            subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True, check=False)

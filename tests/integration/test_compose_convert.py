"""compose.convert for real: services turned into ContainerConfigs, created and started through
LocalBackend on busybox, and what their keys ask for seen from inside the containers."""

from __future__ import annotations

import hashlib
import socket
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.compose.convert import ServiceContainer, service_container
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.options import ProjectOptions
from cove.containers.state import HealthStatus
from cove.engine.compose_backend import LocalBackend
from tests.conftest import CoveRunner


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Compose:
    """A project loaded from text, with its networks and volumes made on the engine (as up will),
    and removed at the end with its containers."""

    def __init__(self, cove: CoveRunner, directory: Path, text: str) -> None:
        self.cove = cove
        name = "cv" + hashlib.sha256(str(directory).encode()).hexdigest()[:8]
        (directory / "compose.yaml").write_text(f"name: {name}\n" + textwrap.dedent(text))
        self.project: Project = load_project(ProjectOptions(working_dir=str(directory), environ={}))
        self.backend = LocalBackend(cove.engine())
        self.containers: list[str] = []
        self.networks = [n.name for n in self.project.networks.values() if not n.external]
        self.volumes = [v.name for v in self.project.volumes.values() if not v.external]
        for network in self.networks:
            self.backend.create_network(network, labels={"com.docker.compose.project": name})
        for volume in self.volumes:
            self.backend.create_volume(volume, labels={"com.docker.compose.project": name})

    def run(self, service: str, number: int = 1) -> ServiceContainer:
        def mounts_of(ref: str) -> list:  # type: ignore[type-arg]
            return list(self.backend.get_container(ref).record.config.mounts)

        sc = service_container(self.project, self.project.services[service], number, mounts_of=mounts_of)
        made = self.backend.create_container(sc.config, sc.name, pull=sc.pull)
        self.containers.append(made.record.id)
        for extra in sc.more_networks:
            self.backend.connect_container(extra.network, made.record.id, aliases=list(extra.aliases))
        self.backend.start_container(made.record.id)
        return sc

    def sh(self, container: str, script: str, check: bool = True) -> str:
        return self.cove.proc("exec", container, "sh", "-c", script, check=check).stdout.decode()

    def ip(self, container: str) -> str:
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        return self.cove("inspect", "--format", fmt, container).out.split()[0]

    def close(self) -> None:
        for ref in reversed(self.containers):
            self.backend.remove_container(ref, force=True, volumes=True)
        for network in self.networks:
            self.backend.remove_network(network)
        for volume in self.volumes:
            self.backend.remove_volume(volume, force=True)


@pytest.fixture
def compose(cove_busybox: CoveRunner, tmp_path: Path) -> Iterator[Callable[[str], Compose]]:
    made: list[Compose] = []

    def make(text: str) -> Compose:
        made.append(Compose(cove_busybox, tmp_path, text))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_a_rich_service_as_its_keys_say(compose: Callable[[str], Compose], tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from compose\n")
    port = free_port()
    c = compose(f"""
        services:
          app:
            image: busybox
            init: true
            command: [httpd, -f, -p, "8080", -h, /www]
            hostname: box
            working_dir: /data
            read_only: true
            ports: ["127.0.0.1:{port}:8080"]
            volumes:
              - data:/data
              - ./www:/www:ro
              - {{type: tmpfs, target: /scratch, tmpfs: {{size: 1m}}}}
            ulimits: {{nofile: {{soft: 1000, hard: 2000}}}}
            sysctls: {{net.core.somaxconn: "1000"}}
            cap_drop: [NET_RAW]
            extra_hosts: ["db.example:10.1.2.3", "cache.example=10.1.2.4"]
            shm_size: 8m
            dns_opt: ["ndots:2", "timeout:1"]
          probe:
            image: busybox
            init: true
            command: [sleep, "300"]
            user: "1000:1000"
            working_dir: /tmp
            network_mode: service:app
            volumes_from: ["app:ro"]
        volumes: {{data: {{}}}}
    """)
    name = c.project.name
    c.run("app")
    url = f"http://127.0.0.1:{port}/index.html"

    def served() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return bytes(r.read()) == b"hello from compose\n"
        except OSError:
            return False

    wait(served, "the published port")
    app = f"{name}-app-1"
    out = c.sh(
        app,
        "hostname; pwd; ulimit -n; ulimit -Hn; cat /proc/sys/net/core/somaxconn; "
        "grep CapEff /proc/self/status; grep example /etc/hosts; "
        "echo ok > /data/f && echo data-rw; echo x > /www/f 2>/dev/null || echo www-ro; "
        "echo x > /f 2>/dev/null || echo root-ro; echo ok > /scratch/f && echo scratch-rw; "
        "df -k /scratch | tail -1; df -k /dev/shm | tail -1; grep ^options /etc/resolv.conf",
    ).split("\n")
    assert out[:5] == ["box", "/data", "1000", "2000", "1000"], out
    capeff = int(out[5].split()[1], 16)
    assert not capeff & (1 << 13) and capeff & (1 << 10)  # NET_RAW dropped, NET_BIND_SERVICE kept
    assert out[6].split() == ["10.1.2.3", "db.example"] and out[7].split() == ["10.1.2.4", "cache.example"]
    assert out[8:12] == ["data-rw", "www-ro", "root-ro", "scratch-rw"], out
    assert out[12].split()[1] == "1024"  # the tmpfs is 1 MiB
    assert out[13].split()[1] == "8192"  # shm_size
    assert out[14] == "options ndots:2 timeout:1"  # dns_opt
    # network_mode service:app: the probe shares app's network namespace (its localhost)
    c.run("probe")
    probe = f"{name}-probe-1"
    assert c.sh(probe, "id -u; id -g; pwd").split() == ["1000", "1000", "/tmp"]
    # volumes_from app:ro: app's volume and bind, read-only here
    shared = c.sh(probe, "cat /data/f /www/index.html; touch /data/g 2>/dev/null || echo ro")
    assert shared.split("\n")[:3] == ["ok", "hello from compose", "ro"]
    got = c.sh(probe, 'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 3 127.0.0.1 8080 | tail -1')
    assert got == "hello from compose\n"


def test_healthcheck_with_start_interval_becomes_healthy_soon(compose: Callable[[str], Compose]) -> None:
    c = compose("""
        services:
          hc:
            image: busybox
            init: true
            command: [sh, -c, "sleep 0.3; touch /tmp/ready; exec sleep 300"]
            healthcheck:
              test: [CMD-SHELL, "test -f /tmp/ready"]
              interval: 60s
              start_period: 30s
              start_interval: 200ms
              retries: 3
    """)
    sc = c.run("hc")
    assert sc.config.healthcheck is not None

    def healthy() -> bool:
        health = c.backend.get_container(sc.name).status.health
        return health is not None and health.status is HealthStatus.HEALTHY

    # at 200 ms probes it is healthy well within 3 s; at the engine's default start interval
    # (5 s) or the 60 s interval it would not be
    wait(healthy, "healthy", timeout=3.0)


def test_replicas_answer_their_service_name_round_robin(compose: Callable[[str], Compose]) -> None:
    c = compose("""
        services:
          web:
            image: busybox
            init: true
            command: [sleep, "300"]
            deploy: {replicas: 2}
            networks:
              default: {aliases: [www]}
          client:
            image: busybox
            init: true
            command: [sleep, "300"]
    """)
    name = c.project.name
    c.run("web", 1)
    c.run("web", 2)
    c.run("client")
    ips = {c.ip(f"{name}-web-1"), c.ip(f"{name}-web-2")}
    client = f"{name}-client-1"
    for alias in ("web", "www"):
        out = c.sh(client, f"nslookup {alias}")
        assert all(ip in out for ip in ips), out
    firsts = set()
    for _ in range(6):
        answer = c.sh(client, "nslookup web")
        firsts.add(answer.split("Name:")[1].split("Address:")[1].split()[0])
    assert firsts == ips  # each replica comes first in turn
    assert c.ip(f"{name}-web-1") in c.sh(client, f"nslookup {name}-web-1")  # the container's name too

"""Whole fixture projects (tests/integration/compose_projects/) run for real with `cove compose`,
as a user runs them: include, extends, .env interpolation, a one-shot migration, a healthy
dependency, a named volume, a profile, and a Debian service reaching another by its name."""

from __future__ import annotations

import shutil
import socket
import urllib.request
from pathlib import Path

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until

PROJECTS = Path(__file__).parent / "compose_projects"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return str(reply.read().decode())


def test_shop_runs_from_its_files_keeps_its_volume_and_goes_with_down_v(
    cove_busybox: CoveRunner, debian_tarball: Path, tmp_path: Path
) -> None:
    cove = cove_busybox
    cove("import", "-q", str(debian_tarball), "debian:bookworm")
    project = tmp_path / "shop"
    shutil.copytree(PROJECTS / "shop", project)
    port = free_port()
    (project / ".env").write_text(f"WEB_PORT={port}\n")
    compose = ["compose", "--project-directory", str(project), "-f", str(project / "compose.yaml")]
    try:
        cove(*compose, "up", "-d")
        assert cove(*compose, "ps", "--services").out.split() == ["db", "web"]  # the debug profile is off
        states = cove(*compose, "ps", "-a", "--format", "{{.Service}} {{.State}}").out.split("\n")
        assert sorted(s for s in states if s) == ["db running", "migrate exited", "web running"]
        # the migration ran once db was healthy, and its output is what web serves
        assert get(port) == "migrated-ok\n"
        # the extended base's labels are on both services that extend it
        labels = cove("inspect", "--format", '{{index .Config.Labels "shop.tier"}}', "shop-web-1").out
        assert labels.strip() == "app"
        # Debian's bash reaches web by its service name through the project network's DNS
        probe = cove.proc(*compose, "--profile", "debug", "run", "--rm", "-T", "probe")  # (its output: fd 1)
        assert (probe.returncode, probe.stdout) == (0, b"migrated-ok\n")

        cove(*compose, "down")
        assert cove("volume", "ls", "-q").out.split() == ["shop_data"]  # named volumes survive down
        cove(*compose, "up", "-d", "--wait")
        wait_until(lambda: get(port) == "migrated-ok\n", timeout=10)
    finally:
        cove(*compose, "down", "-v", check=False)
    assert cove("volume", "ls", "-q").out == ""
    assert cove("ps", "-aq").out == ""
    assert "shop_default" not in cove("network", "ls", "--format", "{{.Name}}").out


def test_a_scaled_service_answers_its_name_with_every_replicas_address(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    (tmp_path / "compose.yaml").write_text(
        "name: dnsrr\n"
        "services:\n"
        "  web:\n    image: busybox\n    init: true\n    command: [sleep, '600']\n"
        "    deploy: {replicas: 2}\n"
        "  client:\n    image: busybox\n    profiles: [tools]\n"
    )
    compose = ["compose", "--project-directory", str(tmp_path)]
    try:
        cove(*compose, "up", "-d", "--scale", "web=3")
        ips = {
            cove(
                "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
            ).out.strip()
            for name in ("dnsrr-web-1", "dnsrr-web-2", "dnsrr-web-3")
        }
        assert len(ips) == 3
        looked = cove.proc(*compose, "run", "--rm", "-T", "client", "nslookup", "web")
        answered = {
            line.split()[-1] for line in looked.stdout.decode().splitlines() if line.startswith("Address")
        }
        assert answered >= ips, looked.stdout.decode()
    finally:
        cove(*compose, "down", check=False)
    assert cove("ps", "-aq").out == ""

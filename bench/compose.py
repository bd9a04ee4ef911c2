#!/usr/bin/env python3
"""Compose: `up -d`, all healthy, `down`; cove, Docker Compose v5, docker-compose 1.29, podman-compose.

Two projects (written by this script), the same file for every tool, all on the same busybox
rootfs (cove's built-in image, loaded into the peers' engines); every container's command
traps SIGTERM, so that stopping costs every tool the same (busybox as PID 1 ignores it):

  3 services    web (httpd, a port published on 127.0.0.1), db (a healthcheck: interval 1s,
                start_period 10s, start_interval 0.5s), worker (depends on db: service_healthy)
  10 services   a chain of four services with healthchecks (`CMD true`, interval 30s,
                start_period 10s, start_interval 0.5s), each depending on the one before
                (service_healthy), and six independent services

Per tool and project, medians over --runs (each run with the next tool first, each step from a
quiet machine): the wall time of `up -d`; the time from the start of `up` until every container
with a healthcheck reports healthy (polled from the engine, `ps` every 0.1 s); and `down`.

Tools, each on its own engine in private state: cove (`cove compose`, through its command
server); Docker Compose v5 and docker-compose 1.29 (Debian's) on Debian's dockerd 20.10;
podman-compose (Debian's) on podman 4.3. A tool that is missing or fails is reported as skipped
with the reason, and the others still run. Peers are found on PATH, Docker Compose v5 also at
.cache/compose-v5 (where `make bench` installs it) or --compose-v5.

dockerd ignores start_interval (it probes every `interval`); podman runs healthchecks from
systemd timers (without systemd they never run); podman-compose 1.0.3 starts dependents without
waiting for their service_healthy condition, and sleeps a second after each container it runs.
docker-compose 1.29's schema predates start_interval and rejects it: it is given the same
project without that key, which changes nothing for dockerd 20.10.

The host's firewall is put back afterwards: the iptables chains and rules dockerd and CNI add
(DOCKER*, CNI-*), the FORWARD policy dockerd sets to DROP, and the bridges they leave.

    .venv/bin/python bench/compose.py [--runs 5] [--quick] [--only cove,v5,1.29,podman]
                                      [--compose-v5 PATH] [--health-timeout 150]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    COVE,
    REPO,
    Dockerd,
    Timings,
    close_cove_env,
    fresh_cove_env,
    inputs_dir,
    quiesce,
    run,
    workdir,
)

GOALS = {"3 services up -d": 0.5, "3 services down": 0.5, "10 services up -d": 0.5, "10 services down": 0.5}
POLL = 0.1
# Sleeps until SIGTERM, then exits at once (a shell as PID 1 ignores SIGTERM without a trap).
IDLE = """["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"""
WEB = """["sh", "-c", "echo ok > /tmp/index.html; trap 'exit 0' TERM; httpd -f -p 80 -h /tmp & wait"]"""


def healthcheck(interval: str) -> str:
    return (
        "    healthcheck:\n"
        '      test: ["CMD", "true"]\n'
        f"      interval: {interval}\n"
        "      timeout: 5s\n"
        "      retries: 3\n"
        "      start_period: 10s\n"
        "      start_interval: 0.5s\n"
    )


def three_services(port: int) -> str:
    return (
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        f"    command: {WEB}\n"
        f'    ports: ["127.0.0.1:{port}:80"]\n'
        "    depends_on: [worker]\n"
        "  db:\n"
        "    image: busybox\n"
        f"    command: {IDLE}\n"
        f"{healthcheck('1s')}"
        "  worker:\n"
        "    image: busybox\n"
        f"    command: {IDLE}\n"
        "    depends_on:\n"
        "      db:\n"
        "        condition: service_healthy\n"
    )


def ten_services() -> str:
    text = "services:\n"
    for n in range(1, 5):
        text += f"  link{n}:\n    image: busybox\n    command: {IDLE}\n{healthcheck('30s')}"
        if n > 1:
            text += f"    depends_on:\n      link{n - 1}:\n        condition: service_healthy\n"
    for n in range(1, 7):
        text += f"  solo{n}:\n    image: busybox\n    command: {IDLE}\n"
    return text


@dataclass(frozen=True)
class Project:
    label: str  # "3 services"
    name: str  # the compose project name
    text: str  # compose.yaml
    healthy: int  # containers that must report healthy


def projects(port: int) -> list[Project]:
    return [
        Project("3 services", "bench3", three_services(port), 1),
        Project("10 services", "bench10", ten_services(), 4),
    ]


def without_start_interval(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if "start_interval" not in line)


class Failed(Exception):
    """A tool failed at a step; the message says which and why."""


@dataclass
class Tool:
    """One compose implementation: its command line, environment, and its engine's `ps`."""

    name: str
    compose: list[str]
    env: dict[str, str] | None
    ps: list[str]  # the engine's ps (with -a --filter ... --format appended)
    project_text: Callable[[str], str] = lambda text: text
    failed: dict[str, str] = field(default_factory=dict)  # project label -> why
    never_healthy: dict[str, str] = field(default_factory=dict)

    def __call__(self, directory: Path, project: Project, *args: str) -> subprocess.CompletedProcess[bytes]:
        argv = [*self.compose, "-p", project.name, "-f", str(directory / "compose.yaml"), *args]
        done = subprocess.run(argv, env=self.env, capture_output=True, cwd=directory, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise Failed(f"`{' '.join(args)}` exited {done.returncode}: {last[-1] if last else ''}")
        return done

    def statuses(self, project: Project) -> list[str]:
        argv = [*self.ps, "ps", "-a", "--filter", f"label=com.docker.compose.project={project.name}",
                "--format", "{{.Names}}\t{{.Status}}"]  # fmt: skip
        done = subprocess.run(argv, env=self.env, capture_output=True, check=False)
        return done.stdout.decode(errors="replace").splitlines()


def wait_healthy(tool: Tool, project: Project, start: float, timeout: float) -> float:
    """Seconds from ``start`` until ``project.healthy`` containers report healthy."""
    deadline = start + timeout
    while True:
        lines = tool.statuses(project)
        healthy = sum("(healthy)" in line for line in lines)
        if healthy >= project.healthy:
            return time.perf_counter() - start
        sick = [line for line in lines if "(unhealthy)" in line]
        if sick:
            raise Failed(f"unhealthy: {sick[0]}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not all healthy after {timeout:.0f} s ({healthy}/{project.healthy})")
        time.sleep(POLL)


def measure(tool: Tool, project: Project, directory: Path, timings: Timings, health_timeout: float) -> None:
    quiesce()
    start = time.perf_counter()
    up = tool(directory, project, "up", "-d")
    timings.add(f"{project.label} up -d", tool.name, time.perf_counter() - start)
    if project.label not in tool.never_healthy:
        try:
            timings.add(
                f"{project.label} all healthy", tool.name, wait_healthy(tool, project, start, health_timeout)
            )
        except TimeoutError as e:
            # The tool's own word on it, if it said anything about healthchecks.
            said = [line for line in up.stderr.decode(errors="replace").splitlines() if "healthcheck" in line]
            tool.never_healthy[project.label] = f"{e}{'; it said: ' + said[0] if said else ''}"
    quiesce()
    start = time.perf_counter()
    tool(directory, project, "down")
    timings.add(f"{project.label} down", tool.name, time.perf_counter() - start)


# -- peers ------------------------------------------------------------------------------------


class HostNetwork:
    """What the peers' networking leaves on the host, put back: the iptables chains and rules
    dockerd and CNI add, the FORWARD policy dockerd sets to DROP, and their bridges. Only what
    carries their names and was not there before is removed; nothing else is touched."""

    CHAINS = ("DOCKER", "CNI-")
    LINKS = ("docker0", "cni-podman", "br-")

    def __init__(self) -> None:
        self.rules = {table: self._rules(table) for table in ("filter", "nat")}
        self.links = self._links()

    @staticmethod
    def _rules(table: str) -> list[str]:
        done = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, check=False)
        return done.stdout.decode().splitlines()

    @staticmethod
    def _links() -> set[str]:
        done = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, check=False)
        return {line.split(":")[1].strip().split("@")[0] for line in done.stdout.decode().splitlines()}

    def restore(self) -> None:
        new_links = {link for link in self._links() - self.links if link.startswith(self.LINKS)}
        names = (*self.CHAINS, *new_links)
        for table, before in self.rules.items():
            now = self._rules(table)
            for line in now:
                if line.startswith("-A ") and line not in before and any(n in line for n in names):
                    ipt(table, "-D", *shlex.split(line)[1:])
            for line in now:
                chain = line.split()[1] if line.startswith("-N ") else ""
                if chain.startswith(self.CHAINS) and line not in before:
                    ipt(table, "-F", chain)
            for line in now:
                chain = line.split()[1] if line.startswith("-N ") else ""
                if chain.startswith(self.CHAINS) and line not in before:
                    ipt(table, "-X", chain)
            for line in before:
                if line.startswith("-P ") and line not in now:
                    ipt(table, *line.split())
        for link in new_links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)


def ipt(table: str, *args: str) -> None:
    subprocess.run(["iptables", "-t", table, *args], capture_output=True, check=False)


class PodmanState:
    """podman's storage, run state and network configuration under one private directory,
    through its configuration files (podman-compose runs plain `podman`)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
        for sub in ("tmp", "networks", "root", "run"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "containers.conf").write_text(
            "[containers]\n"
            # podman's default rlimits exceed this host's hard limits, which it cannot raise
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'runtime = "runc"\n'  # Debian's crun 1.8 refuses a hybrid cgroup v1 host
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "{base / "tmp"}"\n'
            "[network]\n"
            f'network_config_dir = "{base / "networks"}"\n'
        )
        (base / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "root"}"\nrunroot = "{base / "run"}"\n'
        )
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
        }

    def podman(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, check=False)

    def remove(self, networks: Sequence[str]) -> None:
        self.podman("pod", "rm", "-af", "-t", "0")
        self.podman("rm", "-af", "-t", "0")
        for network in networks:
            self.podman("network", "rm", "-f", network)
            # CNI's address allocations live outside podman's storage
            shutil.rmtree(Path("/var/lib/cni/networks") / network, ignore_errors=True)
        self.podman("system", "reset", "-f")
        subprocess.run(["umount", "-R", str(self.base / "root")], capture_output=True, check=False)


def compose_v5(given: str | None) -> str | None:
    candidates = [given] if given else [
        os.environ.get("COVE_BENCH_COMPOSE_V5"),
        str(REPO / ".cache" / "compose-v5" / "venv" / "bin" / "docker-compose"),
        "/var/tmp/loader-compose/venv/bin/docker-compose",
        str(Path.home() / ".docker" / "cli-plugins" / "docker-compose"),
    ]  # fmt: skip
    for candidate in candidates:
        if (
            candidate
            and os.access(candidate, os.X_OK)
            and version_of([candidate, "version"]).startswith("v5")
        ):
            return candidate
    return None


def version_of(argv: Sequence[str]) -> str:
    """A tool's version number from its `version` output ("" when it does not run)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, check=False, timeout=30)
    except OSError:
        return ""
    out = done.stdout.decode(errors="replace")
    # podman-compose prints podman's version before its own ("podman-composer version 1.0.3")
    found = re.search(r"compose\S* version:?\s+(v?\d+\.\d+\.\d+)", out, re.I) or re.search(
        r"(v?\d+\.\d+\.\d+)", out
    )
    return found.group(1) if found else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (the same as --runs 1)")
    parser.add_argument("--only", default="cove,v5,1.29,podman", help="tools: cove, v5, 1.29, podman")
    parser.add_argument("--compose-v5", help="the docker-compose binary of Docker Compose v5")
    parser.add_argument("--health-timeout", type=float, default=150.0, help="seconds to wait for all healthy")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    wanted = args.only.split(",")
    base = workdir()
    inputs = inputs_dir()
    port = free_port()
    project_list = projects(port)
    tools: list[Tool] = []
    skipped: dict[str, str] = {}
    network = HostNetwork()
    docker: Dockerd | None = None
    podman: PodmanState | None = None
    cove_env = {**fresh_cove_env(base / "cove"), "COVE_COMMAND_SERVER": "1"}
    cove_ps = [str(COVE)]
    timings = Timings()
    try:
        run([str(COVE), "image", "bootstrap", "busybox", "-q"], env=cove_env)
        image = inputs / "busybox.tar"
        run([str(COVE), "save", "-o", str(image), "busybox"], env=cove_env)
        if "cove" in wanted:
            tools.append(Tool("cove", [str(COVE), "compose"], cove_env, cove_ps))
        if {"v5", "1.29"} & set(wanted):
            v5 = compose_v5(args.compose_v5) if "v5" in wanted else None
            classic = shutil.which("docker-compose") if "1.29" in wanted else None
            if classic and not version_of([classic, "version"]).startswith("1."):
                classic = None
            if "v5" in wanted and v5 is None:
                skipped["compose v5"] = "not installed (`make bench` puts it in .cache/compose-v5)"
            if "1.29" in wanted and classic is None:
                skipped["compose 1.29"] = "not installed (apt-get install docker-compose)"
            if (v5 or classic) and not Dockerd.available():
                skipped["compose v5" if v5 else "compose 1.29"] = "no dockerd (apt-get install docker.io)"
            elif v5 or classic:
                # The bridge driver for the projects' networks and published ports, but no docker0.
                docker = Dockerd(
                    base / "docker", networking=True, extra=["--bridge=none", "--ip6tables=false"]
                )
                try:
                    docker.start()
                    run(docker.cli("load", "-q", "-i", str(image)))
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    for name in ("compose v5", "compose 1.29"):
                        skipped[name] = f"dockerd did not start: {e}"
                    v5 = classic = None
                env = {**os.environ, "DOCKER_HOST": f"unix://{docker.sock}"}
                if v5:
                    tools.append(Tool("compose v5", [v5], env, docker.cli()))
                if classic:
                    tools.append(Tool("compose 1.29", [classic], env, docker.cli(), without_start_interval))
        if "podman" in wanted:
            podman_compose = shutil.which("podman-compose")
            if podman_compose is None or shutil.which("podman") is None:
                skipped["podman-compose"] = "not installed (apt-get install podman podman-compose)"
            else:
                podman = PodmanState(base / "podman")
                loaded = podman.podman("load", "-q", "-i", str(image))
                if loaded.returncode != 0:
                    skipped["podman-compose"] = f"podman load failed: {loaded.stderr.decode().strip()}"
                else:
                    tools.append(Tool("podman-compose", [podman_compose], podman.env, ["podman"]))
        for tool in tools:
            print(f"{tool.name}: {' '.join(tool.compose)} ({tool_version(tool)})", flush=True)
        directories = {}
        for tool in tools:
            for project in project_list:
                directory = inputs / tool.name.replace(" ", "-") / project.name
                directory.mkdir(parents=True)
                (directory / "compose.yaml").write_text(tool.project_text(project.text))
                directories[(tool.name, project.label)] = directory

        def attempt(tool: Tool, project: Project, into: Timings) -> None:
            if project.label in tool.failed:
                return
            directory = directories[(tool.name, project.label)]
            try:
                measure(tool, project, directory, into, args.health_timeout)
            except Failed as e:
                tool.failed[project.label] = str(e)  # not tried again
                with contextlib.suppress(Failed):
                    tool(directory, project, "down")

        for tool in tools:  # warm up (page cache, cove's command server), not counted
            attempt(tool, project_list[0], Timings())
        for i in range(runs):
            order = tools[i % len(tools) :] + tools[: i % len(tools)] if tools else []
            for project in project_list:
                for tool in order:
                    attempt(tool, project, timings)
                    print(f"run {i + 1}/{runs} {project.label} {tool.name}: done", flush=True)
    finally:
        for tool in tools:
            for project in project_list:
                with contextlib.suppress(Failed, KeyError):
                    tool(directories[(tool.name, project.label)], project, "down")
        if docker is not None:
            docker.stop()
        if podman is not None:
            podman.remove([f"{p.name}_default" for p in project_list])
        cove_cleanup(cove_env, base)
        network.restore()
        subprocess.run(["umount", "-R", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
    print()
    for project in project_list:
        print(f"{project.label}:\n{project.text}")
    print(timings.report(goals=GOALS))
    for tool in tools:
        for label, why in tool.never_healthy.items():
            print(f"{tool.name}: {label} all healthy: {why}")
        for label, why in tool.failed.items():
            print(f"{tool.name}: {label}: failed, {why}")
    for name, why in skipped.items():
        print(f"{name}: skipped, {why}")


def tool_version(tool: Tool) -> str:
    return version_of([*tool.compose, "version"]) or "version unknown"


def cove_cleanup(env: dict[str, str], base: Path) -> None:
    """Whatever a failed `cove compose down` left: containers, networks; then the command server."""
    cove = [str(COVE)]
    ids = subprocess.run([*cove, "ps", "-aq"], env=env, capture_output=True, check=False).stdout.split()
    if ids:
        subprocess.run(
            [*cove, "rm", "-f", *(i.decode() for i in ids)], env=env, capture_output=True, check=False
        )
    subprocess.run([*cove, "network", "prune", "-f"], env=env, capture_output=True, check=False)
    close_cove_env(base / "cove")


if __name__ == "__main__":
    main()

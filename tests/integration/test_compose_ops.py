"""`cove compose` ps, logs, exec, run, top, images, port, ls, cp, wait, events on real containers.

The project's containers are made here as `up` makes them (cove.compose.convert's config with
Docker Compose's labels, on the project's default network), through the engine backend, so
that these commands are tested on their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cove.compose import names
from cove.compose.convert import service_container
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.options import ProjectOptions
from cove.engine.compose_backend import LocalBackend
from cove.engine.requests import PullPolicy, parse_publish
from tests.conftest import CoveRunner, Result
from tests.helpers.containers import wait_until
from tests.helpers.terminal import pty_session, read_until

pytestmark = pytest.mark.slow


class App:
    """A project on one store: its file, and its containers made and removed by the test."""

    def __init__(self, cove: CoveRunner, directory: Path, text: str) -> None:
        self.cove = cove
        self.file = directory / "compose.yaml"
        self.file.write_text(text)
        self.project: Project = load_project(
            ProjectOptions(files=(str(self.file),), working_dir=str(directory), environ={})
        )
        self.name = self.project.name
        self.engine = cove.engine()
        self.backend = LocalBackend(self.engine)
        self.closing: list[subprocess.Popen[bytes]] = []  # (killed at the end, when a test failed)

    def __call__(self, *args: str, check: bool = True) -> Result:
        return self.cove("compose", "-f", str(self.file), *args, check=check)

    def proc(
        self, *args: str, check: bool = False, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return self.cove.proc("compose", "-f", str(self.file), *args, check=check, input=input)

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return self.cove.popen(
            "compose", "-f", str(self.file), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=0,  # (unbuffered: select() on the pipe then sees every line not read yet)
        )  # fmt: skip

    def networks(self) -> None:
        for network in self.project.networks.values():
            self.backend.create_network(
                network.name, labels={names.PROJECT: self.name, names.NETWORK: network.key}
            )

    def start(self, service: str, number: int = 1, *, publish: str | None = None) -> str:
        """Container ``number`` of ``service``, created and started; its ID."""
        made = service_container(self.project, self.project.services[service], number)
        config = replace(made.config, init=True)  # (busybox as PID 1 ignores SIGTERM)
        if publish:
            config = replace(config, publish=parse_publish(publish))
        created = self.backend.create_container(config, made.name, pull=PullPolicy.NEVER)
        self.backend.start_container(created.record.id)
        return created.record.id

    def close(self) -> None:
        for process in self.closing:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
        for c in self.backend.list_containers(names.project_filter(self.name), all=True):
            with contextlib.suppress(Exception):
                self.backend.remove_container(c.record.id, force=True, volumes=True)
        for network in self.project.networks.values():
            with contextlib.suppress(Exception):
                self.backend.remove_network(network.name)
        self.engine.close()


Factory = Callable[[str], "App"]


@pytest.fixture
def app_factory(cove_busybox: CoveRunner, tmp_path: Path) -> Iterator[Factory]:
    made: list[App] = []

    def make(text: str) -> App:
        directory = tmp_path / f"app{len(made)}"
        directory.mkdir()
        app = App(cove_busybox, directory, text)
        made.append(app)
        app.networks()
        return app

    yield make
    for app in made:
        app.close()


def project_name(tmp_path: Path) -> str:
    return "ops" + re.sub(r"[^a-z0-9]", "", tmp_path.name.lower())[-12:]


def exited(app: App, cid: str) -> bool:
    return not app.backend.get_container(cid).status.running


def test_ps_logs_ls_images_top_port(app_factory: Factory, tmp_path: Path) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(
        f"name: {name}\n"
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        "    command: sh -c 'echo hello from web; echo oops >&2; exec sleep 60'\n"
        "  worker:\n"
        "    image: busybox\n"
        "    command: sh -c 'echo working; exit 3'\n"
    )
    web = app.start("web", publish="127.0.0.1::80")
    worker = app.start("worker")
    wait_until(lambda: exited(app, worker))
    wait_until(lambda: "oops" in app("logs", "--no-color", "web").out)

    ps = app("ps").out
    lines = ps.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert len(lines) == 2 and lines[1].startswith(f"{name}-web-1 ")
    assert " web " in lines[1] and " Up " in lines[1] and "127.0.0.1:" in lines[1] and "->80/tcp" in lines[1]
    every = app("ps", "-a").out.splitlines()
    assert [line.split()[0] for line in every[1:]] == [f"{name}-web-1", f"{name}-worker-1"]
    assert "Exited (3)" in every[2]
    assert app("ps", "-q").out.split() == [web]
    assert app("ps", "-a", "--services").out.split() == ["web", "worker"]
    assert app("ps", "--status", "exited", "-q").out.split() == [worker]
    assert app("ps", "--filter", "status=running", "-q").out.split() == [web]
    rows = [json.loads(line) for line in app("ps", "-a", "--format", "json").out.splitlines()]
    assert [r["Name"] for r in rows] == [f"{name}-web-1", f"{name}-worker-1"]
    first, second = rows
    assert first["Service"] == "web" and first["State"] == "running" and first["ExitCode"] == 0
    assert first["Project"] == name and first["Health"] == "" and first["ID"] == web[:12]
    assert first["Publishers"][0]["URL"] == "127.0.0.1" and first["Publishers"][0]["TargetPort"] == 80
    assert first["Publishers"][0]["PublishedPort"] > 0 and first["Networks"] == f"{name}_default"
    assert second["State"] == "exited" and second["ExitCode"] == 3 and second["Publishers"] == []
    assert app("ps", "nosuch", check=False).rc == 1

    logs = app("logs", "--no-color").out.splitlines()
    assert sorted(logs) == sorted(["web-1     | hello from web", "web-1     | oops", "worker-1  | working"])
    assert app("logs", "--no-log-prefix", "worker").out == "working\n"
    assert app("logs", "--no-color", "--tail", "1", "web").out == "web-1  | oops\n"
    stamped = app("logs", "--no-color", "-t", "worker").out
    assert re.fullmatch(r"worker-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z working\n", stamped)
    assert app("logs", "--no-color", "--index", "1", "worker").out == "worker-1  | working\n"

    # Another project with the same service names, side by side: each command sees its own.
    other: App = app_factory(f"name: {name}x\nservices:\n  web:\n    image: busybox\n    command: sleep 60\n")
    other_web = other.start("web")
    assert other("ps", "-q").out.split() == [other_web] and app("ps", "-q").out.split() == [web]
    assert "hello" not in other("logs").out

    ls = app("ls", "-a").out.splitlines()
    assert ls[0].split() == ["NAME", "STATUS", "CONFIG", "FILES"]
    assert ls[1].split() == [name, "exited(1),", "running(1)", str(app.file)]
    assert ls[2].split() == [f"{name}x", "running(1)", str(other.file)]
    assert json.loads(app("ls", "--format", "json").out) == [
        {"Name": name, "Status": "running(1)", "ConfigFiles": str(app.file)},
        {"Name": f"{name}x", "Status": "running(1)", "ConfigFiles": str(other.file)},
    ]
    assert app("ls", "-q", "--filter", f"name={name}$").out == f"{name}\n"
    assert app("ls", "-q", "--filter", "name=^nomatch$").out == ""

    images = app("images").out.splitlines()
    assert images[0].split()[:4] == ["CONTAINER", "REPOSITORY", "TAG", "PLATFORM"]
    assert images[1].split()[:3] == [f"{name}-web-1", "busybox", "latest"]
    listed = json.loads(app("images", "--format", "json").out)
    assert {i["ContainerName"] for i in listed} == {f"{name}-web-1", f"{name}-worker-1"}
    assert all(i["Repository"] == "busybox" and i["Size"] > 0 for i in listed)
    assert len(app("images", "-q").out.split()) == 1

    top = app("top").out.splitlines()
    assert top[0].split()[:2] == ["SERVICE", "#"] and top[0].split()[-1] == "CMD"
    assert any(line.split()[:2] == ["web", "1"] and "sleep 60" in line for line in top[1:])

    port = app("port", "web", "80").out.strip()
    host_port = app.backend.published_ports(web)[0].host_port
    assert port == f"127.0.0.1:{host_port}"
    missing = app("port", "web", "81", check=False)
    assert missing.rc == 1 and "no port 81/tcp" in missing.err


def test_exec_run_cp_and_wait(app_factory: Factory, tmp_path: Path) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(
        f"name: {name}\n"
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        "    command: sleep 60\n"
        "    environment:\n"
        "      FROM_FILE: yes\n"
        "  job:\n"
        "    image: busybox\n"
        "    command: sh -c 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 5'\n"
        "  tool:\n"
        "    image: busybox\n"
        "    secrets: [{source: token, uid: '1000', mode: 0400}]\n"
        "secrets:\n"
        "  token:\n"
        "    file: ./token.txt\n"
    )
    app.start("web")
    job = app.start("job")

    done = app.proc("exec", "-T", "-e", "FOO=bar", "web", "sh", "-c", 'echo "$FOO $FROM_FILE"; exit 7')
    assert done.returncode == 7 and done.stdout == b"bar yes\n"
    assert app.proc("exec", "-T", "-w", "/etc", "-u", "nobody", "web", "sh", "-c", "pwd; id -u").stdout == (
        b"/etc\n65534\n"
    )
    missing = app.proc("exec", "-T", "--index", "2", "web", "true")
    assert missing.returncode == 1 and b'service "web" is not running container #2' in missing.stderr
    assert app.proc("exec", "-T", "nosuch", "true").returncode == 1

    ran = app.proc("run", "--rm", "-T", "-e", "X=1", "web", "sh", "-c", 'echo "run $X $FROM_FILE"; exit 4')
    assert ran.returncode == 4 and ran.stdout == b"run 1 yes\n", ran.stderr
    kept = app.proc("run", "-T", "--no-deps", "-l", "purpose=test", "web", "echo", "kept")
    assert kept.returncode == 0 and kept.stdout == b"kept\n"
    oneoffs = app.backend.list_containers(names.project_filter(name, oneoff="True"), all=True)
    assert len(oneoffs) == 1  # the --rm one is gone
    labels = oneoffs[0].record.config.labels
    assert re.fullmatch(rf"{name}-web-run-[0-9a-f]{{12}}", oneoffs[0].record.name)
    assert labels[names.SERVICE] == "web" and labels["purpose"] == "test"
    assert oneoffs[0].record.config.restart.name.value == "no"
    assert app("ps", "-q").out.split() != []
    assert oneoffs[0].record.id not in app("ps", "-q").out
    assert oneoffs[0].record.id in app("ps", "-a", "-q").out
    detached = app.proc("run", "-d", "--name", "custom-run", "web", "sleep", "30")
    assert detached.returncode == 0
    cid = detached.stdout.decode().strip()
    assert app.backend.get_container("custom-run").record.id == cid
    entry = app.proc("run", "--rm", "-T", "--entrypoint", "echo", "web", "via", "entrypoint")
    assert entry.stdout == b"via entrypoint\n"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    mounted = app.proc(
        "run", "--rm", "-T", "-v", f"{shared}:/mnt:ro", "-u", "nobody", "-w", "/mnt", "web",
        "sh", "-c", "cat note; pwd; id -u",
    )  # fmt: skip
    assert mounted.stdout == b"from the host\n/mnt\n65534\n", mounted.stderr
    published = app.proc("run", "-d", "-p", "127.0.0.1::80", "web", "sleep", "30").stdout.decode().strip()
    bindings = app.backend.published_ports(published)
    assert [(b.container_port, b.host_ip) for b in bindings] == [(80, "127.0.0.1")]
    assert app.backend.published_ports(cid) == []  # (the service publishes nothing without -p)

    (app.file.parent / "token.txt").write_text("s3cret")
    secret = app.proc("run", "--rm", "-T", "tool", "stat", "-c", "%u %a %n", "/run/secrets/token")
    assert secret.stdout == b"1000 400 /run/secrets/token\n", secret.stderr

    source = tmp_path / "in.txt"
    source.write_text("copied in\n")
    app("cp", str(source), "web:/tmp/in.txt")
    assert app.proc("exec", "-T", "web", "cat", "/tmp/in.txt").stdout == b"copied in\n"
    out = tmp_path / "out.txt"
    app("cp", "web:/tmp/in.txt", str(out))
    assert out.read_text() == "copied in\n"
    bad = app("cp", "nosuch:/x", str(out), check=False)
    assert bad.rc == 1 and 'no container found for service "nosuch"' in bad.err

    for detached_one in (cid, published):  # (busybox sleeping as PID 1 would take down's 10 s)
        app.backend.remove_container(detached_one, force=True)
    waiting = app.popen("wait", "--down-project", "job")
    app.closing.append(waiting)
    time.sleep(0.3)  # (it waits whether or not this sleep is long enough: the job waits for /tmp/go)
    assert app.proc("exec", "-T", "job", "touch", "/tmp/go").returncode == 0
    out_bytes, err_bytes = waiting.communicate(timeout=30)
    assert waiting.returncode == 5, err_bytes
    assert out_bytes.decode() == f'container "{job}" exited with status code 5\n'
    assert app.backend.list_containers(names.project_filter(name), all=True) == []  # --down-project
    assert app.backend.list_networks(names.project_filter(name)) == []


def test_logs_follow_takes_new_containers_and_ends_when_all_exited(
    app_factory: Factory, tmp_path: Path
) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(
        f"name: {name}\n"
        "services:\n"
        "  a:\n"
        "    image: busybox\n"
        "    command: sh -c 'echo a-start; while [ ! -e /tmp/stop ]; do sleep 0.05; done; echo a-end'\n"
        "  b:\n"
        "    image: busybox\n"
        "    command: sh -c 'echo b-says-hi; exit 2'\n"
    )
    a = app.start("a")
    follower = app.popen("logs", "-f", "--no-color")
    app.closing.append(follower)
    lines: list[str] = []
    assert follower.stdout is not None

    def read_to(text: str) -> None:
        assert follower.stdout is not None
        deadline = time.monotonic() + 20
        while not any(text in line for line in lines):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([follower.stdout], [], [], max(left, 0))
            assert ready, f"no {text!r} in time: {lines}"
            line = follower.stdout.readline().decode()
            assert line, f"the stream ended before {text!r}: {lines}"
            lines.append(line.rstrip("\n"))

    read_to("a-start")
    app.start("b")  # joins while following
    read_to("b-says-hi")
    read_to("b-1 exited with code 2")
    assert app.proc("exec", "-T", "a", "touch", "/tmp/stop").returncode == 0
    read_to("a-end")
    follower.wait(timeout=30)  # every container stopped: the stream ends
    assert follower.returncode == 0
    rest = follower.stdout.read().decode().splitlines()
    assert any(line.startswith("a-1 exited with code 0") for line in lines + rest)
    assert "a-1  | a-start" in lines and "b-1  | b-says-hi" in lines
    assert exited(app, a)


def test_events_are_observed(app_factory: Factory, tmp_path: Path) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(f"name: {name}\nservices:\n  web:\n    image: busybox\n    command: sleep 60\n")
    # With --since, what happened before its first look is told from the containers' records: the
    # same events whenever that look comes.
    watcher = app.popen("events", "--json", "--since", str(time.time() - 1))
    try:
        assert watcher.stdout is not None
        cid = app.start("web")
        app.backend.kill_container(cid)
        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 20
        while not any(e["action"] == "die" for e in seen):
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([watcher.stdout], [], [], max(deadline - time.monotonic(), 0))
            assert ready, seen
            line = watcher.stdout.readline()
            assert line, watcher.stderr.read() if watcher.stderr else ""
            seen.append(json.loads(line))
    finally:
        watcher.kill()
        watcher.communicate(timeout=10)
    actions = [e["action"] for e in seen if e["id"] == cid]
    assert actions == ["create", "start", "die"], seen
    die = seen[-1]
    assert die["service"] == "web" and die["type"] == "container"
    assert die["attributes"] == {"exitCode": "137", "image": "busybox", "name": f"{name}-web-1"}


def test_version(cove: CoveRunner) -> None:
    assert cove("compose", "version", "--short").out == "5.6.1\n"
    assert cove("compose", "version").out.startswith("cove compose version ")
    assert json.loads(cove("compose", "version", "--format", "json").out)["version"] == "v5.6.1"


def test_exec_and_run_on_a_terminal_and_with_piped_input(app_factory: Factory, tmp_path: Path) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(f"name: {name}\nservices:\n  web:\n    image: busybox\n    command: sleep 60\n")
    app.start("web")
    assert app.proc("exec", "-T", "web", "cat", input=b"fed to exec\n").stdout == b"fed to exec\n"
    ran = app.proc("run", "--rm", "-T", "web", "cat", input=b"fed to run\n")
    assert ran.returncode == 0 and ran.stdout == b"fed to run\n", ran.stderr
    for verb in (("exec",), ("run", "--rm")):
        pid, master = pty_session(
            app.cove.env, "compose", "-f", str(app.file), *verb, "web", "sh", "-c", "tty; exit 3"
        )
        try:
            assert b"/dev/pts/" in read_until(master, b"/dev/pts/")
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 3, verb
        finally:
            os.close(master)
    assert app.backend.list_containers(names.project_filter(name, oneoff="True"), all=True) == []


def test_run_starts_its_dependencies_and_waits_for_their_conditions(
    app_factory: Factory, tmp_path: Path
) -> None:
    name = project_name(tmp_path)
    app: App = app_factory(
        f"name: {name}\n"
        "services:\n"
        "  db:\n"
        "    image: busybox\n"
        "    command: sleep 60\n"
        "    init: true\n"
        "    healthcheck: {test: [CMD, 'true'], interval: 30s, start_period: 10s, start_interval: 0.2s}\n"
        "  migrate:\n"
        "    image: busybox\n"
        "    command: sh -c 'sleep 0.3; exit 0'\n"
        "  broken:\n"
        "    image: busybox\n"
        "    command: sh -c 'exit 4'\n"
        "  web:\n"
        "    image: busybox\n"
        "    depends_on:\n"
        "      db: {condition: service_healthy}\n"
        "      migrate: {condition: service_completed_successfully}\n"
        "  bad:\n"
        "    image: busybox\n"
        "    depends_on: {broken: {condition: service_completed_successfully}}\n"
    )
    alone = app.proc("run", "--rm", "-T", "--no-deps", "web", "echo", "alone")
    assert alone.returncode == 0 and alone.stdout == b"alone\n"
    assert app("ps", "-a", "-q").out == ""  # --no-deps: nothing else made

    ran = app.proc("run", "--rm", "-T", "web", "echo", "after deps")
    assert ran.returncode == 0 and ran.stdout == b"after deps\n", ran.stderr
    states = {c.record.config.labels[names.SERVICE]: c.status for c in app.backend.list_containers(
        names.project_filter(name), all=True)}  # fmt: skip
    assert states["db"].health is not None and states["db"].health.status.value == "healthy"
    assert states["migrate"].status.value == "exited" and states["migrate"].exit_code == 0
    assert "web" not in states  # (the one-off is gone, and run made no service container)

    failed = app.proc("run", "--rm", "-T", "bad", "echo", "never")
    assert failed.returncode == 1 and failed.stdout == b""
    assert b'service "broken" didn\'t complete successfully: exit 4' in failed.stderr

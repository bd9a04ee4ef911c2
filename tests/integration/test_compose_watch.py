"""`cove compose watch --no-up` for real: a busybox service's container gets the files saved under
its develop.watch paths (within a second), loses the deleted ones, never gets the ignored ones,
and is restarted by sync+restart."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.compose.convert import service_container
from cove.compose.loader import load_project
from cove.compose.options import ProjectOptions
from cove.engine.compose_backend import LocalBackend
from cove.engine.containers.model import ContainerStartError
from cove.errors import Conflict, CoveError
from cove.policies import PullPolicy
from tests.conftest import CoveRunner

DEADLINE = 5.0  # seconds: generous; the measured latency is printed

COMPOSE = """
name: {name}
services:
  web:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
          ignore: ["**/*.tmp"]
        - action: sync+restart
          path: ./conf
          target: /etc/web
          initial_sync: true
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
            command: ["sh", "-c", "echo $$GREETING > /hooks/ran"]
            environment: [GREETING=hello]
"""


def wait_for(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> float:
    """Seconds until ``check()`` held (polled); fails naming ``what`` at the deadline."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


class Lines:
    """A process's output lines, read as they come."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self._queue.put(raw.decode(errors="replace").rstrip("\n"))

    def has(self, line: str) -> bool:
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return line in self.lines


@pytest.fixture
def watched(
    cove_busybox: CoveRunner, tmp_path: Path
) -> Iterator[tuple[LocalBackend, str, Path, subprocess.Popen[bytes], Lines]]:
    directory = tmp_path / "app"
    (directory / "src").mkdir(parents=True)
    (directory / "conf").mkdir()
    (directory / "hooks").mkdir()
    (directory / "conf" / "early.conf").write_text("there before the watch")
    (directory / "compose.yaml").write_text(
        COMPOSE.format(name=f"watch{os.getpid()}{tmp_path.name[-6:]}".lower())
    )
    project = load_project(ProjectOptions(working_dir=str(directory), environ={}))
    engine = cove_busybox.engine()
    backend = LocalBackend(engine)
    made = service_container(project, project.services["web"], 1)
    ref = backend.create_container(made.config, made.name, pull=PullPolicy.NEVER).record.id
    backend.start_container(ref)
    proc = cove_busybox.popen(
        "compose", "watch", "--no-up", cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out = Lines(proc.stdout)
    try:
        wait_for(lambda: out.has("Watch enabled") or proc.poll() is not None, "watch started", 30)
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        yield backend, ref, directory, proc, out
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            stream.close()  # type: ignore[union-attr]
        engine.close()


def cat(backend: LocalBackend, ref: str, path: str) -> str | None:
    """The file's text in the container, None when there is no such file. (The engine pauses
    the container while it copies files in, as Docker does for cp: an exec meeting that pause
    is tried again.)"""
    end = time.monotonic() + DEADLINE
    while True:
        read, write = os.pipe()
        try:
            with open(os.devnull, "wb") as devnull:
                code = backend.exec_process(ref, ["cat", path], stdout=write, stderr=devnull.fileno())
        except (Conflict, ContainerStartError) as e:
            os.close(read)
            if "paused" not in str(e) or time.monotonic() > end:
                raise
            time.sleep(0.01)
            continue
        finally:
            os.close(write)
        with os.fdopen(read, "rb") as f:
            data = f.read()
        return data.decode() if code == 0 else None


def test_saved_files_land_deleted_ones_go_and_ignored_ones_stay_out(watched, capsys) -> None:  # type: ignore[no-untyped-def]
    backend, ref, directory, proc, out = watched
    page = directory / "src" / "index.html"
    start = time.monotonic()
    page.write_text("<h1>one</h1>")
    wait_for(lambda: cat(backend, ref, "/app/index.html") == "<h1>one</h1>", "the new file synced")
    first = time.monotonic() - start
    start = time.monotonic()
    page.write_text("<h1>two</h1>")  # saving again: the new content replaces the old
    wait_for(lambda: cat(backend, ref, "/app/index.html") == "<h1>two</h1>", "the changed file synced")
    second = time.monotonic() - start
    with capsys.disabled():
        print(f"\ncompose watch: a saved file was in the container after {first:.2f} s and {second:.2f} s")
    assert (
        wait_for(lambda: out.has('Syncing service "web" after 1 changes were detected'), "the sync line") >= 0
    )

    (directory / "src" / "deep" / "er").mkdir(parents=True)  # a directory made while watching
    (directory / "src" / "deep" / "er" / "f.txt").write_text("deep")
    (directory / "src" / "deep" / "er" / "also.tmp").write_text("ignored")
    (directory / "src" / "scratch.tmp").write_text("ignored")
    wait_for(lambda: cat(backend, ref, "/app/deep/er/f.txt") == "deep", "a file of a new directory synced")
    assert cat(backend, ref, "/app/scratch.tmp") is None
    assert cat(backend, ref, "/app/deep/er/also.tmp") is None  # ignored inside a new directory too

    page.unlink()
    wait_for(lambda: cat(backend, ref, "/app/index.html") is None, "the deleted file removed")
    assert cat(backend, ref, "/app/deep/er/f.txt") == "deep"

    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C ends it
    assert proc.wait(timeout=10) == 130


def test_sync_restart_syncs_then_restarts(watched) -> None:  # type: ignore[no-untyped-def]
    backend, ref, directory, _proc, out = watched
    assert (
        cat(backend, ref, "/etc/web/early.conf") == "there before the watch"
    )  # initial_sync, before watching
    before = backend.get_container(ref).status.started_at
    (directory / "conf" / "web.conf").write_text("port=80")
    wait_for(lambda: backend.get_container(ref).status.started_at != before, "the container restarted", 15)
    wait_for(lambda: backend.get_container(ref).status.running, "the container running again")
    assert cat(backend, ref, "/etc/web/web.conf") == "port=80"
    wait_for(lambda: out.has('service(s) ["web"] restarted'), "the restart line")
    assert out.has('Syncing service "web" after 1 changes were detected')


def test_sync_exec_runs_its_command_after_the_sync(watched) -> None:  # type: ignore[no-untyped-def]
    backend, ref, directory, _proc, _out = watched
    assert cat(backend, ref, "/hooks/ran") is None
    (directory / "hooks" / "late.sh").write_text("new")
    wait_for(lambda: cat(backend, ref, "/hooks/ran") == "hello\n", "the command ran")
    assert cat(backend, ref, "/hooks/late.sh") == "new"


REBUILD = """
name: {name}
services:
  app:
    build: .
    network_mode: none
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    develop:
      watch:
        - action: rebuild
          path: ./version
"""


def test_watch_brings_the_project_up_and_rebuild_recreates_from_the_new_image(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    from cove.compose.names import project_filter  # noqa: PLC0415

    directory = tmp_path / "app"
    directory.mkdir()
    name = f"rebuild{os.getpid()}{tmp_path.name[-6:]}".lower()
    (directory / "compose.yaml").write_text(REBUILD.format(name=name))
    (directory / "Dockerfile").write_text("FROM busybox\nCOPY version /version\n")
    (directory / "version").write_text("1")
    engine = cove_busybox.engine()
    backend = LocalBackend(engine)
    proc = cove_busybox.popen(
        "compose", "watch", cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = Lines(proc.stdout)

    def running_version() -> str | None:
        found = [c for c in backend.list_containers(project_filter(name, service="app")) if c.status.running]
        try:
            return cat(backend, found[0].record.id, "/version") if len(found) == 1 else None
        except CoveError:  # being recreated meanwhile
            return None

    try:
        wait_for(lambda: out.has("Watch enabled") or proc.poll() is not None, "watch started (after up)", 120)
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        assert running_version() == "1"  # built and started by watch's up
        (first,) = backend.list_containers(project_filter(name, service="app"))
        (directory / "version").write_text("2")
        wait_for(lambda: out.has('service(s) ["app"] successfully built'), "the rebuild", 120)
        wait_for(lambda: running_version() == "2", "the container recreated from the new image", 60)
        assert out.has('Rebuilding service(s) ["app"] after changes were detected...')
        (now,) = backend.list_containers(project_filter(name, service="app"))
        assert now.record.id != first.record.id
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            stream.close()  # type: ignore[union-attr]
        engine.close()

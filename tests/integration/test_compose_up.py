"""`cove compose up` and `down` for real, on busybox: order and conditions, convergence
(noop, recreate, scale, orphans), what down removes and what it leaves, the project lock.

Each test's project is its own (named from tmp_path); containers trap SIGTERM, so that
stopping them is quick without an init."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from tests.conftest import CoveRunner, Result
from tests.helpers.containers import wait_until

# A busybox that ends at once on SIGTERM (as PID 1 it would ignore it).
LIVES = '["sh", "-c", "trap \'exit 0\' TERM; sleep 600 & wait"]'


def write(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def project_name(tmp_path: Path) -> str:
    return "t" + "".join(c for c in tmp_path.name.lower() if c.isalnum())[-20:]


class Compose:
    def __init__(self, cove: CoveRunner, file: Path, name: str) -> None:
        self.cove, self.file, self.name = cove, file, name

    def __call__(self, *args: str, check: bool = True) -> Result:
        return self.cove("compose", "-f", str(self.file), "-p", self.name, *args, check=check)

    def containers(self, *, all: bool = True) -> dict[str, dict[str, str]]:
        """name -> {ID, State, service, number}, of this project's containers."""
        label = f"label=com.docker.compose.project={self.name}"
        out = self.cove(
            "ps", *(["-a"] if all else []), "--no-trunc", "--filter", label, "--format", "{{json .}}"
        ).out
        found = {}
        for line in out.splitlines():
            row = json.loads(line)
            labels = dict(kv.split("=", 1) for kv in row["Labels"].split(",") if "=" in kv)
            found[row["Names"]] = {
                "id": row["ID"],
                "state": row["State"],
                "service": labels.get("com.docker.compose.service", ""),
            }
        return found


def compose(cove: CoveRunner, tmp_path: Path, text: str) -> Compose:
    return Compose(cove, write(tmp_path, text), project_name(tmp_path))


def test_up_starts_in_order_and_down_removes_all_it_made(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        f"""
        services:
          web: {{image: busybox, command: {LIVES}, depends_on: [db]}}
          db: {{image: busybox, command: {LIVES}}}
          worker: {{image: busybox, command: {LIVES}}}
        volumes:
          data: {{}}
        """,
    )
    first = c("up", "-d")
    names = [f"{c.name}-{s}-1" for s in ("web", "db", "worker")]
    assert {n: r["state"] for n, r in c.containers().items()} == dict.fromkeys(names, "running")
    assert f" Network {c.name}_default  Created" in first.err
    assert f" Container {c.name}-web-1  Started" in first.err
    lines = first.err.splitlines()
    assert lines.index(f" Container {c.name}-db-1  Started") < lines.index(
        f" Container {c.name}-web-1  Starting"
    )
    network = json.loads(cove_busybox("network", "inspect", f"{c.name}_default").out)[0]
    assert network["Labels"]["com.docker.compose.project"] == c.name
    assert network["Labels"]["com.docker.compose.network"] == "default"

    down = c("down")
    assert c.containers() == {}
    assert f" Network {c.name}_default  Removed" in down.err
    assert cove_busybox("network", "inspect", f"{c.name}_default", check=False).rc == 1


def test_up_again_leaves_unchanged_containers_and_recreates_a_changed_one(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    text = f"""
        services:
          db: {{image: busybox, command: {LIVES}}}
          web: {{image: busybox, command: {LIVES}, environment: {{MODE: "one"}}}}
        """
    c = compose(cove_busybox, tmp_path, text)
    c("up", "-d")
    before = c.containers()
    again = c("up", "-d")
    assert c.containers() == before
    assert f" Container {c.name}-web-1  Running" in again.err
    write(tmp_path, text.replace('"one"', '"two"'))
    changed = c("up", "-d")
    after = c.containers()
    assert after[f"{c.name}-db-1"]["id"] == before[f"{c.name}-db-1"]["id"]
    assert after[f"{c.name}-web-1"]["id"] != before[f"{c.name}-web-1"]["id"]
    assert after[f"{c.name}-web-1"]["state"] == "running"
    assert f" Container {c.name}-web-1  Recreated" in changed.err
    forced = c("up", "-d", "--force-recreate", "db")
    assert c.containers()[f"{c.name}-db-1"]["id"] != before[f"{c.name}-db-1"]["id"]
    assert f"{c.name}-web-1  Recreate" not in forced.err
    c("down")


def test_scale_up_and_down(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(cove_busybox, tmp_path, f"services: {{web: {{image: busybox, command: {LIVES}}}}}\n")
    c("up", "-d", "--scale", "web=3")
    assert sorted(c.containers()) == [f"{c.name}-web-{n}" for n in (1, 2, 3)]
    kept = c.containers()[f"{c.name}-web-1"]["id"]
    c("up", "-d", "--scale", "web=1")
    assert list(c.containers()) == [f"{c.name}-web-1"]
    assert c.containers()[f"{c.name}-web-1"]["id"] == kept
    c("down")


def test_orphans_are_reported_and_removed_with_remove_orphans(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    two = f"""
        services:
          web: {{image: busybox, command: {LIVES}}}
          old: {{image: busybox, command: {LIVES}}}
        """
    c = compose(cove_busybox, tmp_path, two)
    c("up", "-d")
    write(tmp_path, f"services: {{web: {{image: busybox, command: {LIVES}}}}}\n")
    warned = c("up", "-d")
    assert f"Found orphan containers ([{c.name}-old-1])" in warned.err
    assert f"{c.name}-old-1" in c.containers()
    c("up", "-d", "--remove-orphans")
    assert list(c.containers()) == [f"{c.name}-web-1"]
    c("down")


def test_down_removes_only_this_projects_and_volumes_only_with_v(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove_busybox("network", "create", "shared-ext")
    text = f"""
        services:
          web: {{image: busybox, command: {LIVES}, networks: [default, ext], volumes: ["data:/data"]}}
        networks:
          ext: {{external: true, name: shared-ext}}
        volumes:
          data: {{}}
        """
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = Compose(cove_busybox, write(tmp_path / "a", text), project_name(tmp_path) + "a")
    other = Compose(cove_busybox, write(tmp_path / "b", text), project_name(tmp_path) + "b")
    one("up", "-d")
    other("up", "-d")
    one("down")
    assert one.containers() == {}
    assert list(other.containers()) == [f"{other.name}-web-1"]
    volumes = cove_busybox("volume", "ls", "-q").out.split()
    assert f"{one.name}_data" in volumes  # (kept without -v)
    one("down", "-v")
    assert f"{one.name}_data" not in cove_busybox("volume", "ls", "-q").out.split()
    assert f"{other.name}_data" in cove_busybox("volume", "ls", "-q").out.split()
    other("down", "-v")
    assert cove_busybox("network", "inspect", "shared-ext", check=False).rc == 0
    cove_busybox("network", "rm", "shared-ext")


def test_an_external_network_that_is_missing_is_one_line(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        """
        services:
          web: {image: busybox, networks: [ext]}
        networks:
          ext: {external: true, name: nowhere-net}
        """,
    )
    failed = c("up", "-d", check=False)
    assert failed.rc == 1
    assert failed.err.strip().splitlines()[-1] == (
        "Error: network nowhere-net declared as external, but could not be found"
    )
    assert c.containers() == {}


def test_two_concurrent_ups_make_no_duplicates(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    file = write(
        tmp_path,
        f"services: {{a: {{image: busybox, command: {LIVES}}}, b: {{image: busybox, command: {LIVES}}}}}\n",
    )
    name = project_name(tmp_path)
    args = ("compose", "-f", str(file), "-p", name, "up", "-d")
    procs = [cove_busybox.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    c = Compose(cove_busybox, file, name)
    assert sorted(c.containers()) == [f"{name}-a-1", f"{name}-b-1"]
    c("down")


def test_wait_returns_once_everything_runs_and_a_lifecycle_round(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    c = compose(cove_busybox, tmp_path, f"services: {{web: {{image: busybox, command: {LIVES}}}}}\n")
    c("up", "--wait")
    web = f"{c.name}-web-1"
    assert c.containers()[web]["state"] == "running"
    c("stop")
    assert c.containers()[web]["state"] == "exited"
    c("start", "--wait")
    assert c.containers()[web]["state"] == "running"
    c("pause")
    assert c.containers()[web]["state"] == "paused"
    c("unpause")
    c("restart")
    assert c.containers()[web]["state"] == "running"
    c("kill")
    wait_until(lambda: c.containers()[web]["state"] == "exited")  # (a kill only signals)
    c("rm", "-f")
    assert c.containers() == {}
    c("create")
    assert c.containers()[web]["state"] == "created"
    c("down")


def test_up_killed_halfway_then_up_again_converges(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    services = "".join(f"  s{i}: {{image: busybox, command: {LIVES}}}\n" for i in range(6))
    c = compose(cove_busybox, tmp_path, "services:\n" + services)
    proc = cove_busybox.popen(
        "compose",
        "-f",
        str(c.file),
        "-p",
        c.name,
        "up",
        "-d",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: bool(c.containers()) or proc.poll() is not None, timeout=30, interval=0.01)
    finally:
        proc.kill()
        proc.wait()
    c("up", "-d")
    found = c.containers()
    assert sorted(found) == sorted(f"{c.name}-s{i}-1" for i in range(6))
    assert {r["state"] for r in found.values()} == {"running"}
    c("down")
    assert c.containers() == {}
    assert cove_busybox("network", "inspect", f"{c.name}_default", check=False).rc == 1


def test_down_of_named_services_removes_only_theirs(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        "services:\n" + "".join(f"  {s}: {{image: busybox, command: {LIVES}}}\n" for s in ("web", "db")),
    )
    c("up", "-d")
    c("down", "web")
    assert list(c.containers()) == [f"{c.name}-db-1"]
    assert cove_busybox("network", "inspect", f"{c.name}_default", check=False).rc == 0
    c("down")
    assert c.containers() == {}


def test_restart_of_a_service_restarts_its_dependents_too(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        f"""
        services:
          web: {{image: busybox, command: {LIVES}, depends_on: [db]}}
          db: {{image: busybox, command: {LIVES}}}
          other: {{image: busybox, command: {LIVES}}}
        """,
    )
    c("up", "-d")

    def started() -> dict[str, str]:
        names = [f"{c.name}-{s}-1" for s in ("web", "db", "other")]
        return {n: json.loads(cove_busybox("inspect", n).out)[0]["State"]["StartedAt"] for n in names}

    before = started()
    restarted = c("restart", "db")
    after = started()
    assert [n for n in before if before[n] != after[n]] == [f"{c.name}-web-1", f"{c.name}-db-1"]
    lines = restarted.err.splitlines()
    assert lines.index(f" Container {c.name}-db-1  Started") < lines.index(
        f" Container {c.name}-web-1  Restarting"
    )
    c("down")


def test_a_disabled_services_containers_are_no_orphans(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        f"""
        services:
          web: {{image: busybox, command: {LIVES}}}
          debug: {{image: busybox, command: {LIVES}, profiles: [debug]}}
        """,
    )
    c("--profile", "debug", "up", "-d")
    again = c("up", "-d", "--remove-orphans")
    assert "orphan" not in again.err
    assert sorted(c.containers()) == [f"{c.name}-debug-1", f"{c.name}-web-1"]
    c("--profile", "debug", "down")
    assert c.containers() == {}


# -- conditions (the engine runs the health checks; start_interval makes them quick) -----------

HEALTHY_DB = """
          db:
            image: busybox
            init: true
            command: ["sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep 600"]
            healthcheck:
              test: ["CMD", "test", "-f", "/tmp/ready"]
              interval: 30s
              start_period: 30s
              start_interval: 0.1s
"""


def test_a_healthy_dependency_and_a_completed_one_are_waited_for(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        f"""
        services:
          web:
            image: busybox
            init: true
            command: ["sleep", "600"]
            depends_on:
              db: {{condition: service_healthy}}
              migrate: {{condition: service_completed_successfully}}
          migrate:
            image: busybox
            command: ["sh", "-c", "sleep 0.2; exit 0"]
        {HEALTHY_DB}
        """,
    )
    up = c("up", "-d")
    lines = up.err.splitlines()
    assert lines.index(f" Container {c.name}-db-1  Healthy") < lines.index(
        f" Container {c.name}-web-1  Creating"
    )
    assert lines.index(f" Container {c.name}-migrate-1  Exited") < lines.index(
        f" Container {c.name}-web-1  Creating"
    )
    found = c.containers()
    assert found[f"{c.name}-web-1"]["state"] == "running"
    assert found[f"{c.name}-migrate-1"]["state"] == "exited"
    c("down")


def test_a_failing_dependency_stops_up_at_once_and_its_dependent_is_never_made(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        """
        services:
          web:
            image: busybox
            depends_on:
              migrate: {condition: service_completed_successfully}
          migrate:
            image: busybox
            command: ["sh", "-c", "exit 3"]
          sick:
            image: busybox
            init: true
            command: ["sleep", "600"]
            healthcheck: {test: ["CMD", "false"], interval: 0.2s, retries: 1}
          app:
            image: busybox
            depends_on:
              sick: {condition: service_healthy}
        """,
    )
    failed = c("up", "-d", "web", check=False)
    assert failed.rc == 1
    assert (
        failed.err.strip().splitlines()[-1]
        == 'Error: service "migrate" didn\'t complete successfully: exit 3'
    )
    assert f"{c.name}-web-1" not in c.containers()
    failed = c("up", "-d", "app", check=False)
    assert failed.rc == 1
    assert failed.err.strip().splitlines()[-1] == (
        f"Error: dependency failed to start: container {c.name}-sick-1 is unhealthy"
    )
    assert f"{c.name}-app-1" not in c.containers()
    c("down")


def test_wait_waits_for_health(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(cove_busybox, tmp_path, f"services:\n{HEALTHY_DB}")
    up = c("up", "--wait")
    assert f" Container {c.name}-db-1  Healthy" in up.err
    inspect = json.loads(cove_busybox("inspect", f"{c.name}-db-1").out)[0]
    assert inspect["State"]["Health"]["Status"] == "healthy"
    c("down")


def test_wait_on_an_unhealthy_service_fails_with_its_name(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    c = compose(
        cove_busybox,
        tmp_path,
        """
        services:
          sick:
            image: busybox
            init: true
            command: ["sleep", "600"]
            healthcheck: {test: ["CMD", "false"], interval: 0.2s, retries: 1}
        """,
    )
    failed = c("up", "--wait", "--wait-timeout", "20", check=False)
    assert failed.rc == 1
    assert failed.err.strip().splitlines()[-1] == f"Error: container {c.name}-sick-1 is unhealthy"
    c("down")


def test_recreate_keeps_anonymous_volumes_and_renew_makes_new_ones(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    text = """
        services:
          db:
            image: busybox
            init: true
            command: ["sh", "-c", "test -f /data/mark || echo MODE > /data/mark; exec sleep 600"]
            environment: {MODE: "one"}
            volumes: ["/data"]
        """
    c = compose(cove_busybox, tmp_path, text)
    c("up", "-d")
    db = f"{c.name}-db-1"

    def anonymous() -> str:
        mounts = json.loads(cove_busybox("inspect", db).out)[0]["Mounts"]
        return next(m["Name"] for m in mounts if m["Destination"] == "/data")

    first = anonymous()
    write(tmp_path, text.replace('"one"', '"two"'))
    c("up", "-d")
    assert anonymous() == first
    write(tmp_path, text.replace('"one"', '"three"'))
    c("up", "-d", "-V")
    assert anonymous() != first
    assert first not in cove_busybox("volume", "ls", "-q").out.split()
    c("down", "-v")


def test_secrets_are_in_the_container_with_their_owner_and_mode_before_it_starts(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    (tmp_path / "token.txt").write_text("s3cret\n")
    c = compose(
        cove_busybox,
        tmp_path,
        """
        services:
          app:
            image: busybox
            command: ["sh", "-c", "stat -c '%u:%g %a' /run/secrets/token; cat /run/secrets/token"]
            secrets: [{source: token, uid: "1000", gid: "1001", mode: 0440}]
        secrets:
          token: {file: ./token.txt}
        """,
    )
    c("up", "-d")
    app = f"{c.name}-app-1"
    wait_until(lambda: c.containers()[app]["state"] == "exited")
    assert cove_busybox("logs", app).out.splitlines() == ["1000:1001 440", "s3cret"]
    c("down")

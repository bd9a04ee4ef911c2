#!/usr/bin/env python3
"""Containers: start latency, many containers, memory per idle container; cove, docker, podman.

Cases, each engine on the same busybox rootfs (cove's built-in image, loaded into the peers),
every container with --network none (cove's default: a private network namespace with
loopback only; the peers' bridges would add their own setup):

  run --rm true   `run --rm busybox true`, one after another; medians of --runs.
                  cove         through its command server (the default)
                  cove-cold    COVE_COMMAND_SERVER=0: a whole interpreter start per command
                  runc alone   `runc run` on a bundle cove prepared: the floor for any engine on runc
  50 x run -d     50 x `run -d busybox sleep 600` one after another, `ps`, one `rm -f` of all:
                  total seconds (median of --batches)
  idle memory     what each engine keeps alive per idle container, from /proc/PID/smaps_rollup:
                  cove's monitor, docker's containerd-shim-runc-v2, podman's conmon; the
                  engine-wide processes (cove's command server; dockerd and containerd) apart

    .venv/bin/python bench/containers.py [--runs 30] [--batches 3] [--idle 10] [--only cove,podman,docker]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from _common import COVE, Dockerd, Podman, Timings, close_cove_env, fresh_cove_env, inputs_dir, run, workdir

GOALS = {"run --rm true": 1 / 3}
SLEEPER = ("busybox", "sleep", "600")


class Engine:
    """One engine's command line and environment."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env

    def __call__(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run([*self.argv, *args], env=self.env)

    def time(self, *args: str) -> float:
        start = time.perf_counter()
        self(*args)
        return time.perf_counter() - start


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024
    return values["Rss"], values["Pss"]


def processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # gone meanwhile
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


def helpers_of(engine: Engine, ids: list[str], cove_root: Path) -> list[int]:
    """The processes an engine keeps per container (not the containers' own processes)."""
    if engine.name == "cove":
        states = [json.loads((cove_root / "containers" / cid / "state.json").read_text()) for cid in ids]
        return [int(state["monitor_pid"]) for state in states]
    marker = "containerd-shim" if engine.name == "docker" else "conmon"
    table = processes()
    return [pid for cid in ids for pid, cmd in table.items() if marker in cmd.split(" ")[0] and cid in cmd]


def engine_wide(engine: Engine, docker: Dockerd | None, cove_run: Path) -> list[int]:
    if engine.name == "cove":
        return [int(p.read_text()) for p in cove_run.glob("cmd-*.pid")]
    if engine.name == "docker" and docker is not None and docker.proc is not None:
        daemon = docker.proc.pid
        table = processes()
        return [
            daemon,
            *(pid for pid, cmd in table.items() if cmd.startswith("containerd ") and _parent(pid) == daemon),
        ]
    return []


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def prepared_bundle(cove: Engine, cove_root: Path, base: Path) -> Path:
    """A runc bundle as cove writes it (config.json, seccomp profile and all) over a plain rootfs copy."""
    cid = cove("create", "--network", "none", "busybox", "true").stdout.decode().strip()
    cove("start", cid)
    bundle = base / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    exported = subprocess.run(
        [*cove.argv, "export", cid], env=cove.env, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-C", str(bundle / "rootfs"), "-x"], input=exported, check=True)
    config = json.loads((cove_root / "containers" / cid / "bundle" / "config.json").read_text())
    config["root"]["path"] = str(bundle / "rootfs")
    for mount in config["mounts"]:
        if mount["type"] == "bind" and mount["source"].startswith(str(cove_root)):
            copy = bundle / Path(mount["source"]).name
            shutil.copyfile(mount["source"], copy)
            mount["source"] = str(copy)
    config["linux"]["cgroupsPath"] = "/cove-bench-floor"
    (bundle / "config.json").write_text(json.dumps(config))
    cove("rm", "-f", cid)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="runs of `run --rm true` per engine")
    parser.add_argument("--batches", type=int, default=3, help="repeats of the 50-container case")
    parser.add_argument("--idle", type=int, default=10, help="idle containers for the memory case")
    parser.add_argument("--only", default="cove,podman,docker")
    args = parser.parse_args()
    tools = args.only.split(",")
    base = workdir()
    inputs = inputs_dir()
    cove_env = {**fresh_cove_env(base / "cove"), "COVE_COMMAND_SERVER": "1"}
    cove_root, cove_run = Path(cove_env["COVE_ROOT"]), Path(cove_env["COVE_RUNTIME_DIR"])
    cove = Engine("cove", [str(COVE)], cove_env)
    cold = Engine("cove-cold", [str(COVE)], {**cove_env, "COVE_COMMAND_SERVER": "0"})
    docker = Dockerd(base / "docker") if "docker" in tools and Dockerd.available() else None
    podman = Podman(base / "podman") if "podman" in tools and Podman.available() else None
    for name, present in (("docker", docker), ("podman", podman)):
        if name in tools and present is None:
            print(f"{name}: not installed, left out")
    engines = [cove, cold] if "cove" in tools else []
    timings = Timings()
    rss: dict[str, list[tuple[int, int]]] = {}
    wide: dict[str, list[tuple[int, int]]] = {}
    try:
        cold("image", "bootstrap", "busybox", "-q")
        image = inputs / "busybox.tar"
        cold("save", "-o", str(image), "busybox")
        if docker:
            docker.start()
            run(docker.cli("load", "-q", "-i", str(image)))
            engines.append(Engine("docker", docker.cli()))
        if podman:
            engines.append(Engine("podman", podman.cli(), podman.env))
            run(podman.cli("load", "-q", "-i", str(image)), env=podman.env)
        floor = None
        if "cove" in tools:
            bundle = prepared_bundle(cold, cove_root, base)
            floor = Engine(
                "runc alone", ["runc", "--root", str(base / "runc-state"), "run", "-b", str(bundle)]
            )
        runtime = cold("info", "--format", "{{.DefaultRuntime}}").stdout.decode().strip()
        print(f"engines: {', '.join(e.name for e in engines)}; cove uses {runtime}")

        latency = ("run", "--rm", "--network", "none", "busybox", "true")
        for engine in engines:  # warm caches (and start cove's command server)
            for _ in range(3):
                engine(*latency)
        time.sleep(1)
        for i in range(args.runs):
            for engine in engines:
                timings.add("run --rm true", engine.name, engine.time(*latency))
            if floor is not None:
                timings.add("run --rm true", floor.name, floor.time(f"floor-{i}"))

        many = [e for e in engines if e.name != "cove-cold"]
        for _ in range(args.batches):
            for engine in many:
                start = time.perf_counter()
                ids = [
                    engine("run", "-d", "--network", "none", *SLEEPER).stdout.decode().strip()
                    for _ in range(50)
                ]
                started = time.perf_counter()
                engine("ps")
                listed = time.perf_counter()
                # podman's rm -f stops with a grace period first; docker's and cove's kill at once
                engine("rm", "-f", *(("--time", "0") if engine.name == "podman" else ()), *ids)
                end = time.perf_counter()
                timings.add("50 x run -d, ps, rm -f", engine.name, end - start)
                timings.add("  of which 50 x run -d", engine.name, started - start)
                timings.add("  of which ps", engine.name, listed - started)
                timings.add("  of which rm -f (50)", engine.name, end - listed)

        for engine in many:
            ids = [
                engine("run", "-d", "--network", "none", *SLEEPER).stdout.decode().strip()
                for _ in range(args.idle)
            ]
            time.sleep(3)  # cove's monitors turn lean once their container runs
            full_ids = [engine("inspect", "--format", "{{.Id}}", cid).stdout.decode().strip() for cid in ids]
            rss[engine.name] = [memory(pid) for pid in helpers_of(engine, full_ids, cove_root)]
            wide[engine.name] = [memory(pid) for pid in engine_wide(engine, docker, cove_run)]
            engine("rm", "-f", *ids)
    finally:
        if docker:
            docker.stop()
        if podman:
            podman.reset()
        close_cove_env(base / "cove")  # its command server, and what its store made on the host
        subprocess.run(["umount", "-R", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
    print(timings.report(goals=GOALS))
    print()
    mb = 1 << 20
    header = f"{'idle memory per container':<28} {'engine':<10} {'RSS MiB':>8} {'PSS MiB':>8}"
    print(f"{header}  processes; engine-wide RSS MiB")
    for name, values in rss.items():
        if values:
            mean_rss = statistics.mean(v[0] for v in values) / mb
            mean_pss = statistics.mean(v[1] for v in values) / mb
            total = sum(v[0] for v in wide.get(name, [])) / mb
            print(f"{'':<28} {name:<10} {mean_rss:8.1f} {mean_pss:8.1f}  {len(values)}; {total:.1f}")
    if rss.get("cove"):
        cove_pss = statistics.mean(v[1] for v in rss["cove"])
        for name, values in rss.items():
            if name != "cove" and values:
                ratio = cove_pss / statistics.mean(v[1] for v in values)
                print(f"{'':<28} PSS ratio cove / {name} = {ratio:.2f}")


if __name__ == "__main__":
    main()

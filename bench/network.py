#!/usr/bin/env python3
"""Networking: throughput, connection rate and set-up cost; cove, docker, podman in one run.

Every engine runs the same busybox rootfs (cove's built-in image, loaded into the peers)
on a user-defined bridge network of its own:

  c2c MB/s        container -> container through the bridge, 1 GiB, counted at the end
  host->port MB/s the host writes 1 GiB to a published port on 127.0.0.1
                  (both from Python sockets joined to the containers' network namespaces with
                  nsenter: busybox's nc stops short and its wget caps the rate; the kernel path
                  is the engine's)
  conn/s          the host opens, uses and closes 1000 connections to a published httpd
  -p cost (s)     median of `run -d -p ...` minus median of `run -d` (10 each)
  run -d -p (s)   the median `run -d -p ...` itself

docker runs twice: with its userland proxy (docker-proxy, Docker's default) and without
(`--userland-proxy=false`, kernel NAT like cove's). podman uses netavark. The host's
iptables rules are saved before dockerd starts and restored after (dockerd leaves its
FORWARD DROP policy and chains behind).

    .venv/bin/python bench/network.py [--runs 3] [--only cove,podman,docker]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from _common import COVE, Dockerd, Podman, close_cove_env, fresh_cove_env, inputs_dir, run, workdir

GIB = 1 << 30
CONNECTIONS = 1000
NETWORK = "benchnet"


class Engine:
    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.argv, *args], env=self.env, capture_output=True, check=check)

    def out(self, *args: str) -> str:
        return self(*args).stdout.decode().strip()

    def rm(self, *names: str) -> None:
        self("rm", "-f", *(("--time", "0") if self.name == "podman" else ()), *names, check=False)


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


def connect(port: int, timeout: float = 10) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


SINK = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 5001))
server.listen()
print("ready", flush=True)
conn, _ = server.accept()
total = 0
while data := conn.recv(1 << 20):
    total += len(data)
print(total, flush=True)
"""
SOURCE = """
import socket, sys, time
block = bytes(1 << 20)
start = time.perf_counter()
with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as sock:
    for _ in range(int(sys.argv[3]) >> 20):
        sock.sendall(block)
print(time.perf_counter() - start)
"""


def in_netns(engine: Engine, container: str, *argv: str) -> list[str]:
    """``argv`` in the network namespace of ``container`` (any engine: by its PID)."""
    pid = engine.out("inspect", "--format", "{{.State.Pid}}", container)
    return ["nsenter", "-t", pid, "-n", *argv]


def start_sink(engine: Engine, container: str) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(in_netns(engine, container, sys.executable, "-c", SINK), stdout=subprocess.PIPE)
    assert sink.stdout is not None
    sink.stdout.readline()  # ready
    return sink


def finish_sink(sink: subprocess.Popen[bytes]) -> None:
    out, _ = sink.communicate(timeout=60)
    if int(out.split()[-1]) != GIB:
        raise RuntimeError(f"the sink got {out!r}, not {GIB} bytes")


def c2c(engine: Engine) -> float:
    """MB/s from one container's network namespace to another's, through the bridge; the
    traffic comes from Python sockets joined to the containers' namespaces (busybox's own
    tools stop short or cap the rate), the same for every engine."""
    address = engine.out(
        "inspect", "--format", "{{.NetworkSettings.Networks." + NETWORK + ".IPAddress}}", "srv"
    )
    sink = start_sink(engine, "srv")
    client = in_netns(engine, "cli", sys.executable, "-c", SOURCE, address, "5001", str(GIB))
    seconds = float(subprocess.run(client, capture_output=True, check=True).stdout)
    finish_sink(sink)
    return GIB / seconds / 1e6


def host_to_port(engine: Engine) -> float:
    """MB/s from the host to a published port on 127.0.0.1."""
    sink = start_sink(engine, "srv")
    source = [sys.executable, "-c", SOURCE, "127.0.0.1", "15001", str(GIB)]
    seconds = float(subprocess.run(source, capture_output=True, check=True).stdout)
    finish_sink(sink)
    return GIB / seconds / 1e6


def connection_rate(engine: Engine) -> float:
    """Connections per second to a published httpd, each: connect, GET, read, close."""
    request = b"GET / HTTP/1.0\r\n\r\n"
    start = time.perf_counter()
    for _ in range(CONNECTIONS):
        with socket.create_connection(("127.0.0.1", 15080)) as sock:
            sock.sendall(request)
            while sock.recv(65536):
                pass
    return CONNECTIONS / (time.perf_counter() - start)


def setup_cost(engine: Engine, runs: int) -> tuple[float, float]:
    """(what -p adds to `run -d`, the median `run -d -p` itself), in seconds."""
    plain, published = [], []
    for i in range(runs):
        plain.append(
            timed(engine, "run", "-d", "--name", f"p{i}", "--network", NETWORK, "busybox", "sleep", "600")
        )
        published.append(
            timed(
                engine,
                "run",
                "-d",
                "--name",
                f"q{i}",
                "--network",
                NETWORK,
                "-p",
                f"{15100 + i}:80",
                "busybox",
                "sleep",
                "600",
            )
        )
    engine.rm(*(f"p{i}" for i in range(runs)), *(f"q{i}" for i in range(runs)))
    return statistics.median(published) - statistics.median(plain), statistics.median(published)


def measure(engine: Engine, runs: int, results: dict[str, dict[str, float]]) -> None:
    engine("network", "create", NETWORK)
    try:
        engine("run", "-d", "--name", "cli", "--network", NETWORK, "busybox", "sleep", "600")
        engine("run", "-d", "--name", "web", "--network", NETWORK, "-p", "15080:80", "busybox",
               "sh", "-c", "echo ok > /tmp/index.html; httpd -f -p 80 -h /tmp")  # fmt: skip
        engine(
            "run", "-d", "--name", "srv", "--network", NETWORK, "-p", "15001:5001", "busybox", "sleep", "600"
        )
        wait_port(15080)
        time.sleep(0.5)
        connection_rate(engine)  # warm up
        row = results.setdefault(engine.name, {})
        row["c2c MB/s"] = statistics.median(c2c(engine) for _ in range(runs))
        row["host->port MB/s"] = statistics.median(host_to_port(engine) for _ in range(runs))
        row["conn/s"] = statistics.median(connection_rate(engine) for _ in range(runs))
        engine.rm("cli", "web", "srv")
        row["-p cost (s)"], row["run -d -p (s)"] = setup_cost(engine, 10)
        print(f"{engine.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    finally:
        engine.rm("cli", "web", "srv")
        engine("network", "rm", NETWORK, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="cove,podman,docker")
    args = parser.parse_args()
    tools = args.only.split(",")
    base = workdir()
    inputs = inputs_dir()
    results: dict[str, dict[str, float]] = {}
    saved_rules = subprocess.run(["iptables-save"], capture_output=True, check=True).stdout
    cove_env = fresh_cove_env(base / "cove")
    cove = Engine("cove", [str(COVE)], cove_env)
    try:
        cove("image", "bootstrap", "busybox", "-q")
        image = inputs / "busybox.tar"
        cove("save", "-o", str(image), "busybox")
        if "cove" in tools:
            measure(cove, args.runs, results)
        if "podman" in tools and Podman.available():
            podman = Podman(base / "podman")
            engine = Engine("podman", podman.cli(), podman.env)
            engine("load", "-q", "-i", str(image))
            try:
                measure(engine, args.runs, results)
            finally:
                podman.reset()
        if "docker" in tools and Dockerd.available():
            for proxy in ("true", "false"):
                docker = Dockerd(
                    base / f"docker-{proxy}", networking=True, extra=[f"--userland-proxy={proxy}"]
                )
                docker.start()
                try:
                    engine = Engine("docker" if proxy == "true" else "docker (no proxy)", docker.cli())
                    engine("load", "-q", "-i", str(image))
                    measure(engine, args.runs, results)
                finally:
                    docker.stop()
                    subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True, check=False)
                    subprocess.run(["iptables-restore"], input=saved_rules, check=False)
    finally:
        close_cove_env(base / "cove")
        subprocess.run(["pkill", "-f", f"network/dns.py {base}"], check=False)
        subprocess.run(["iptables-restore"], input=saved_rules, check=False)
        run(["rm", "-rf", str(base), str(inputs)])
    print()
    metrics = ["c2c MB/s", "host->port MB/s", "conn/s", "-p cost (s)", "run -d -p (s)"]
    print(f"{'engine':<20}" + "".join(f"{m:>16}" for m in metrics))
    for name, row in results.items():
        print(f"{name:<20}" + "".join(f"{row.get(m, float('nan')):>16.3f}" for m in metrics))
    if "cove" in results:
        for metric in metrics:
            peers = {n: r[metric] for n, r in results.items() if n != "cove" and metric in r}
            if not peers:
                continue
            higher_better = metric.endswith(("MB/s", "conn/s"))
            best = max(peers, key=peers.__getitem__) if higher_better else min(peers, key=peers.__getitem__)
            ratio = results["cove"][metric] / peers[best] if peers[best] else float("nan")
            goal = ">= 1.00" if higher_better else "lower"
            print(f"{metric}: cove / {best} = {ratio:.2f}  (goal: {goal})")


if __name__ == "__main__":
    main()

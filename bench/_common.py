"""Shared pieces of the benchmarks: timing, peers (docker, podman) in private state, reports."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COVE = REPO / ".venv" / "bin" / "cove"


def run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), check=True, capture_output=True, env=env)


# Shown for reference, never counted as a peer (e.g. the OCI runtime alone, below any engine).
REFERENCES = {"runc alone"}
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def settle() -> None:
    """Start every run from the same state: nothing dirty, no cached dentries and inodes.

    On this kind of host, each create-and-delete cycle of a large tree makes the next one
    slower (system time grows run after run, for GNU tar as for every engine) until the
    dentry and inode caches are dropped. Inputs live on tmpfs, which dropping leaves alone.
    """
    os.sync()
    if os.access(DROP_CACHES, os.W_OK):
        DROP_CACHES.write_text("3\n")


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs, from /proc/stat's first line: user, nice, system,
    idle, iowait, irq, softirq, steal (guest time is already in user)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[3], sum(fields)


def quiesce(idle: float = 0.9, window: float = 0.2, limit: float = 10.0) -> float:
    """Wait until the previous run's after-work is over; returns the seconds waited.

    Engines finish some work after their command returns (dockerd removes a build's
    containers, cove's guard and cleanup remove work directories, the kernel writes back
    dirty pages), and whoever runs next would pay for it. So: sync, then wait for a window
    in which the CPUs are at least ``idle`` idle (iowait counts as busy here: writeback)."""
    start = time.perf_counter()
    os.sync()
    while time.perf_counter() - start < limit:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle:
            break
    return time.perf_counter() - start


@dataclass
class Timings:
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, case: str, tool: str, seconds: float) -> None:
        self.samples.setdefault((case, tool), []).append(seconds)

    def median(self, case: str, tool: str) -> float:
        return statistics.median(self.samples[(case, tool)])

    def report(self, cove: str = "cove", goals: Mapping[str, float] | None = None) -> str:
        """Medians per case and tool, and cove's ratio to the fastest peer against the case's goal."""
        lines = [f"{'case':<28} {'tool':<16} {'median':>8} {'min':>8} {'max':>8}  runs"]
        cases = list(dict.fromkeys(case for case, _ in self.samples))
        for case in cases:
            tools = [tool for c, tool in self.samples if c == case]
            for tool in tools:
                s = self.samples[(case, tool)]
                lines.append(
                    f"{case:<28} {tool:<16} {statistics.median(s):8.3f} {min(s):8.3f} {max(s):8.3f}  {len(s)}"
                )
            peers = [t for t in tools if not t.startswith(cove) and t not in REFERENCES]
            if cove in tools and peers:
                fastest = min(peers, key=lambda t: self.median(case, t))
                ratio = self.median(case, cove) / self.median(case, fastest)
                goal = (goals or {}).get(case, 1.0)
                lines.append(f"{'':<28} ratio cove / {fastest} = {ratio:.2f}  (goal: <= {goal:.2f})")
        return "\n".join(lines)


def timed(fn: Callable[..., object], *args: object, **kw: object) -> float:
    """Seconds that ``fn(*args, **kw)`` takes, from a settled machine."""
    settle()
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


class Dockerd:
    """A private dockerd (Debian's docker.io) that leaves the host's firewall alone."""

    def __init__(self, base: Path, *, networking: bool = False, extra: Sequence[str] = ()) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        # Without networking, dockerd leaves the firewall alone (no bridge, no iptables rules).
        self.network_args = [] if networking else ["--iptables=false", "--ip6tables=false", "--bridge=none"]
        self.extra = list(extra)

    @staticmethod
    def available() -> bool:
        return shutil.which("dockerd") is not None and Path("/usr/bin/docker").exists()

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        log = open(self.base / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as dockerd
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.base / "root"), "--exec-root", str(self.base / "exec"),
             "-H", f"unix://{self.sock}", "--pidfile", str(self.base / "docker.pid"),
             *self.network_args, *self.extra, "--storage-driver=overlay2"],
            stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run(self.cli("version"), capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not start; see {self.base / 'dockerd.log'}")

    def cli(self, *args: str) -> list[str]:
        return ["/usr/bin/docker", "-H", f"unix://{self.sock}", *args]

    def reset(self) -> None:
        ids = run(self.cli("images", "-aq")).stdout.split()
        if ids:
            run(self.cli("rmi", "-f", *sorted({i.decode() for i in ids})))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None
        subprocess.run(["umount", "-R", str(self.base / "root")], capture_output=True, check=False)


class Podman:
    """podman with private storage and configuration under a temporary directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        # podman sets container rlimits above this host's hard limits (which a process without
        # CAP_SYS_RESOURCE cannot raise), and lowers its own RLIMIT_NPROC to 32768 on the way.
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
        self.conf = base / "containers.conf"
        self.conf_text = (
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'runtime = "runc"\n'  # crun 1.8 from Debian refuses a hybrid cgroup v1 host
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
        )

    @property
    def env(self) -> dict[str, str]:
        """The environment to run podman in (its configuration file)."""
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.conf.exists():
            self.conf.write_text(self.conf_text)
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    @staticmethod
    def available() -> bool:
        return shutil.which("podman") is not None

    def cli(self, *args: str) -> list[str]:
        return ["podman", "--root", str(self.base / "root"), "--runroot", str(self.base / "run"),
                "--storage-driver", "overlay", *args]  # fmt: skip

    def reset(self) -> None:
        subprocess.run(self.cli("system", "reset", "-f"), capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(self.base / "root")], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def stop_command_servers(base: Path) -> None:
    """Stop the command servers of a cove environment made by :func:`fresh_cove_env`."""
    for pid_file in (base / "run").glob("cmd-*.pid"):
        subprocess.run(["pkill", "-F", str(pid_file)], capture_output=True, check=False)


_RELEASE_HOST = """
import os
from cove.config import load_config
from cove.engine.bootstrap import open_engine
engine = open_engine(load_config(os.environ))
engine.networks.release_host()
engine.close()
"""


def release_cove_host(env: dict[str, str]) -> None:
    """Remove what the store of ``env`` made on the host (its bridges, namespaces, rules, DNS
    server), by the store's own names: a store's directory going does not take them with it."""
    if Path(env["COVE_ROOT"]).exists():
        python = COVE.parent / "python"
        subprocess.run([str(python), "-c", _RELEASE_HOST], env=env, capture_output=True, check=False)


def close_cove_env(base: Path) -> None:
    """Stop a cove environment's command servers and release what its store made on the host,
    before its directory goes."""
    stop_command_servers(base)
    release_cove_host(cove_env_of(base))


def cove_env_of(base: Path) -> dict[str, str]:
    """The environment of a cove store kept under ``base``."""
    return {**os.environ, "COVE_ROOT": str(base / "root"), "COVE_RUNTIME_DIR": str(base / "run"),
            "COVE_CONFIG": str(base / "cove.toml")}  # fmt: skip


def fresh_cove_env(base: Path) -> dict[str, str]:
    stop_command_servers(base)
    release_cove_host(cove_env_of(base))  # (an earlier run's store, if one is left)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    (base / "cove.toml").write_text("")
    return cove_env_of(base)


def workdir() -> Path:
    """Where the stores live: on disk, like a real /var/lib."""
    return Path(tempfile.mkdtemp(prefix="cove-bench-", dir="/var/tmp"))


def inputs_dir() -> Path:
    """Where inputs live: tmpfs, so that reading them costs the same for every tool, every run."""
    return Path(tempfile.mkdtemp(prefix="cove-bench-in-", dir="/dev/shm"))


class LocalRegistry:
    """Debian's docker-registry on a free 127.0.0.1 port, with its own configuration (the
    package's default one asks for htpasswd logins that do not exist)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.storage = base / "storage"
        self.proc: subprocess.Popen[bytes] | None = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("docker-registry") is not None

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{self.host}', secret: bench}}\n"
        )
        log = open(self.base / "registry.log", "ab")  # noqa: SIM115 - lives as long as the registry
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start; see {self.base / 'registry.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def wipe(self) -> None:
        """Empty the registry (stopped and started again, so nothing is cached)."""
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        self.start()

"""A recording fake of :class:`cove.host.seam.Host` and :class:`cove.host.runner.Runner`.

Every call is appended to ``calls`` as a tuple (method, arguments...); answers come from the
small tables a test fills in (``procs``, ``proc_files``, ``results``, ``links``...). Nothing
touches the OS.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cove.host.runner import CommandFailed, RunResult
from cove.oci.mount import Mount


@dataclass
class FakeProcess:
    argv: tuple[str, ...]
    exit_code: int | None = None  # None: still running
    start_time: int = 1


@dataclass
class RecordingHost:
    calls: list[tuple[object, ...]] = field(default_factory=list)
    procs: dict[int, FakeProcess] = field(default_factory=dict)
    proc_files: dict[str, bytes] = field(default_factory=dict)
    mounted: dict[Path, list[Mount]] = field(default_factory=dict)
    next_pid: int = 1000
    memory: int = 8 << 30
    cpus: int = 2
    online: int = 2
    ticks: int = 100
    cgroups: int = 2
    name: str = "fakehost"
    hard_limits: dict[str, int] = field(default_factory=dict)  # by resource name; absent: unlimited
    last_cap: int = 40  # CAP_CHECKPOINT_RESTORE
    bounding: int = (1 << 41) - 1
    # Where proc_path points (a directory a test lays out); None: the real /proc.
    proc_dir: Path | None = None
    # What a signal does to a fake process (default: SIGKILL and SIGTERM end it with 128+N).
    on_signal: Callable[[FakeProcess, int], None] | None = None
    tools: set[str] = field(default_factory=lambda: {"nft"})
    # The network facts: links (name -> up), their bridge (link -> master), namespaces,
    # ports in use ((protocol, port)), resolvers, whether the DNS server answers, sysctls.
    links: dict[str, bool] = field(default_factory=dict)
    masters: dict[str, str] = field(default_factory=dict)
    netns: set[str] = field(default_factory=set)
    ports_in_use: set[tuple[str, int]] = field(default_factory=set)
    resolvers: list[str] = field(default_factory=lambda: ["192.0.2.53"])
    dns_listening: bool = True
    sysctls: dict[str, str] = field(default_factory=dict)
    locks_held: set[str] = field(default_factory=set)
    # What a foreground command run_streaming runs answers: argv prefix -> (exit code, output).
    streamed: dict[tuple[str, ...], tuple[int, bytes]] = field(default_factory=dict)
    # The filesystem each path lies on (the longest prefix wins), else ``filesystem``.
    filesystems: dict[Path, str] = field(default_factory=dict)
    filesystem: str = "ext4"
    kernel: str = "6.1.0-fake"
    distribution: str = "Fake Linux 1"

    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        env: Mapping[str, str] | None = None,
        new_session: bool = False,
    ) -> int:
        pid = self.next_pid
        self.next_pid += 1
        self.procs[pid] = FakeProcess(tuple(argv))
        self.calls.append(("spawn", tuple(argv)))
        return pid

    def spawn_detached(
        self, argv: Sequence[str], *, pass_fds: Sequence[int] = (), stderr_path: str | None = None
    ) -> None:
        self.calls.append(("spawn_detached", tuple(argv)))

    def run_streaming(self, argv: Sequence[str], on_output: Callable[[bytes], None]) -> int:
        command = tuple(argv)
        self.calls.append(("run_streaming", command))
        code, output = 0, b""
        for prefix, answer in self.streamed.items():
            if command[: len(prefix)] == prefix:
                code, output = answer
        if output:
            on_output(output)
        return code

    def wait(self, pid: int) -> int:
        self.calls.append(("wait", pid))
        proc = self.procs[pid]
        return 0 if proc.exit_code is None else proc.exit_code

    def wait_exit(self, pid: int, timeout: float) -> bool:
        self.calls.append(("wait_exit", pid))
        return not self.alive(pid)

    def kill(self, pid: int, sig: int) -> bool:
        self.calls.append(("kill", pid, sig))
        proc = self.procs.get(pid)
        if proc is None or proc.exit_code is not None:
            return False
        if self.on_signal is not None:
            self.on_signal(proc, sig)
        elif sig in (signal.SIGKILL, signal.SIGTERM):
            proc.exit_code = 128 + sig
        return True

    def alive(self, pid: int) -> bool:
        proc = self.procs.get(pid)
        return proc is not None and proc.exit_code is None

    def start_time(self, pid: int) -> int | None:
        proc = self.procs.get(pid)
        return proc.start_time if proc is not None and proc.exit_code is None else None

    def read_proc(self, relative: str) -> bytes:
        self.calls.append(("read_proc", relative))
        try:
            return self.proc_files[relative]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", f"/proc/{relative}") from None

    def proc_path(self, relative: str) -> Path:
        return (self.proc_dir or Path("/proc")) / relative

    def mount_all(self, mounts: Sequence[Mount], target: Path) -> None:
        self.calls.append(("mount_all", tuple(mounts), target))
        self.mounted.setdefault(target, []).extend(mounts)

    def bind_fd(self, fd: int, target: Path) -> None:
        self.calls.append(("bind_fd", fd, target))
        self.mounted.setdefault(target, []).append(Mount("bind", f"/proc/self/fd/{fd}", ("rbind",)))

    def unmount(self, target: Path, *, lazy: bool = False) -> None:
        self.calls.append(("unmount", target))
        stack = self.mounted.get(target)
        if stack:
            stack.pop()
            if not stack:
                del self.mounted[target]

    def unmount_all_under(self, path: Path) -> None:
        self.calls.append(("unmount_all_under", path))
        for target in sorted(self.mounted, key=lambda p: len(p.parts), reverse=True):
            if target == path or path in target.parents:
                del self.mounted[target]

    def is_mountpoint(self, path: Path) -> bool:
        return path in self.mounted

    def filesystem_type(self, path: Path) -> str:
        holders = [p for p in self.filesystems if p == path or p in path.parents]
        return self.filesystems[max(holders, key=lambda p: len(p.parts))] if holders else self.filesystem

    def kernel_version(self) -> str:
        return self.kernel

    def operating_system(self) -> str:
        return self.distribution

    def total_memory(self) -> int:
        return self.memory

    def cpu_count(self) -> int:
        return self.cpus

    def online_cpus(self) -> int:
        return self.online

    def clock_ticks(self) -> int:
        return self.ticks

    def cgroup_version(self) -> int:
        return self.cgroups

    def hostname(self) -> str:
        return self.name

    def hard_rlimit(self, name: str) -> int | None:
        return self.hard_limits.get(name)

    def capability_sets(self) -> tuple[int | None, int | None]:
        return self.last_cap, self.bounding

    def has_tool(self, name: str) -> bool:
        return name in self.tools

    def link_exists(self, name: str) -> bool:
        return name in self.links

    def link_is_up(self, name: str) -> bool:
        return self.links.get(name, False)

    def links_on(self, bridges: Iterable[str]) -> list[str]:
        wanted = set(bridges)
        return sorted(link for link, master in self.masters.items() if master in wanted)

    def netns_exists(self, name: str) -> bool:
        return name in self.netns

    def netns_names(self) -> list[str]:
        return sorted(self.netns)

    def netns_path(self, name: str) -> Path:
        return Path("/run/netns") / name

    def remove_netns_file(self, name: str) -> None:
        self.calls.append(("remove_netns_file", name))
        self.netns.discard(name)

    def write_sysctl(self, path: str, value: str) -> None:
        self.calls.append(("write_sysctl", path, value))
        self.sysctls[path] = value

    def port_free(self, protocol: str, host_ip: str, port: int) -> bool:
        return (protocol, port) not in self.ports_in_use

    def udp_listening(self, addresses: Iterable[str]) -> bool:
        return self.dns_listening

    def nameservers(self) -> list[str]:
        return list(self.resolvers)

    @contextlib.contextmanager
    def host_lock(self, name: str) -> Iterator[None]:
        assert name not in self.locks_held, f"host lock {name} taken twice"
        self.calls.append(("host_lock", name))
        self.locks_held.add(name)
        try:
            yield
        finally:
            self.locks_held.discard(name)
            self.calls.append(("host_unlock", name))


@dataclass
class RecordingRunner:
    """Records each command; answers from ``results`` (argv prefix -> result), else success."""

    commands: list[tuple[str, ...]] = field(default_factory=list)
    inputs: list[bytes | None] = field(default_factory=list)
    results: dict[tuple[str, ...], tuple[int, bytes, bytes]] = field(default_factory=dict)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> RunResult:
        command = tuple(argv)
        self.commands.append(command)
        self.inputs.append(input)
        code, out, err = 0, b"", b""
        for prefix, answer in self.results.items():
            if command[: len(prefix)] == prefix:
                code, out, err = answer
        result = RunResult(command, code, out, err)
        if check and code != 0:
            raise CommandFailed(result)
        return result

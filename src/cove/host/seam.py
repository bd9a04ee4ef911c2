"""The host's processes, mounts and facts behind one seam, beside :class:`~cove.host.runner.Runner`.

The engine never calls ``os.kill``, ``waitpid`` or reads ``/proc`` itself: it asks a ``Host``.
``engine/bootstrap.py`` picks :class:`LinuxHost`; unit tests pass the recording fake in
``tests/helpers/fakehost.py`` and check what the engine asked for, without root (youki's
syscall seam). Each method here is a thin call into the modules of this package, so that
what the seam hides stays tested by the integration suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from cove.host import cgroups, mounts, netlink, process, sysinfo
from cove.host.locks import FileLock
from cove.oci.mount import Mount


class Host(Protocol):
    """What the engine needs of the host's processes, mounts and system facts."""

    # -- processes --
    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        env: Mapping[str, str] | None = None,
        new_session: bool = False,
    ) -> int: ...

    def spawn_detached(
        self, argv: Sequence[str], *, pass_fds: Sequence[int] = (), stderr_path: str | None = None
    ) -> None: ...

    def run_streaming(self, argv: Sequence[str], on_output: Callable[[bytes], None]) -> int:
        """Run ``argv`` in the foreground, stdin empty, stdout and stderr merged into
        ``on_output`` as they come; its exit code. The child dies with this process."""
        ...

    def wait(self, pid: int) -> int:
        """Wait for our child ``pid``; its exit code as a shell reports it (128+N for signal N)."""
        ...

    def wait_exit(self, pid: int, timeout: float) -> bool:
        """Wait until ``pid`` (any process) has ended; False on timeout."""
        ...

    def kill(self, pid: int, sig: int) -> bool:
        """Send ``sig``; False when there is no such process (any more)."""
        ...

    def alive(self, pid: int) -> bool: ...

    def start_time(self, pid: int) -> int | None:
        """The process's start time since boot (tells a PID from its reuse); None when gone."""
        ...

    def read_proc(self, relative: str) -> bytes:
        """Read ``/proc/<relative>`` (``stat``, ``<pid>/net/dev``, ``<pid>/cmdline``...)."""
        ...

    def proc_path(self, relative: str) -> Path:
        """The path of ``/proc/<relative>``, for what must be opened there (a root, a netns)."""
        ...

    # -- mounts --
    def mount_all(self, mounts: Sequence[Mount], target: Path) -> None: ...

    def bind_fd(self, fd: int, target: Path) -> None:
        """Bind what the descriptor ``fd`` pins (an ``O_PATH`` one will do) on ``target``."""
        ...

    def unmount(self, target: Path, *, lazy: bool = False) -> None: ...

    def unmount_all_under(self, path: Path) -> None:
        """Detach everything mounted at or below ``path`` (before a tree there is removed)."""
        ...

    def is_mountpoint(self, path: Path) -> bool: ...

    def filesystem_type(self, path: Path) -> str:
        """The type of the filesystem that holds ``path`` (ext4, xfs, tmpfs, overlay...)."""
        ...

    # -- system facts --
    def kernel_version(self) -> str: ...

    def operating_system(self) -> str:
        """The distribution's name (os-release's PRETTY_NAME), else the kernel's."""
        ...

    def total_memory(self) -> int: ...

    def cpu_count(self) -> int:
        """The CPUs this process may run on (its affinity): what limits are checked against."""
        ...

    def online_cpus(self) -> int:
        """The CPUs online on the host (what CPU percentages are scaled by)."""
        ...

    def clock_ticks(self) -> int:
        """Clock ticks per second, the unit of ``/proc/stat``."""
        ...

    def cgroup_version(self) -> int: ...

    def hostname(self) -> str: ...

    def hard_rlimit(self, name: str) -> int | None:
        """This process's hard limit on resource ``name`` (``nofile``...); None: unlimited."""
        ...

    def capability_sets(self) -> tuple[int | None, int | None]:
        """(the kernel's last capability number, this process's bounding set), None where
        unreadable: what decides the capabilities a container may be given."""
        ...

    def has_tool(self, name: str) -> bool:
        """Is the program ``name`` on the PATH (nft, iptables, iptables-restore)?"""
        ...

    # -- networks (the facts behind host/netlink.py's NetHost) --
    def link_exists(self, name: str) -> bool: ...

    def link_is_up(self, name: str) -> bool: ...

    def links_on(self, bridges: Iterable[str]) -> list[str]:
        """The links that are ports of one of ``bridges``."""
        ...

    def netns_exists(self, name: str) -> bool:
        """Is there a named network namespace ``name`` (``/run/netns/NAME``)?"""
        ...

    def netns_names(self) -> list[str]: ...

    def netns_path(self, name: str) -> Path:
        """Where the named network namespace ``name`` is pinned (``/run/netns/NAME``)."""
        ...

    def remove_netns_file(self, name: str) -> None:
        """Remove a namespace's file left by a crash (no longer a mount point)."""
        ...

    def write_sysctl(self, path: str, value: str) -> None:
        """Set ``/proc/sys/PATH`` to ``value``."""
        ...

    def port_free(self, protocol: str, host_ip: str, port: int) -> bool:
        """Could something bind ``host_ip:port`` right now?"""
        ...

    def udp_listening(self, addresses: Iterable[str]) -> bool:
        """Does something listen on UDP port 53 of each of ``addresses``?"""
        ...

    def nameservers(self) -> list[str]:
        """The host's IPv4 resolvers (its resolv.conf)."""
        ...

    def host_lock(self, name: str) -> AbstractContextManager[None]:
        """Hold the exclusive lock ``name`` that every process on the host shares."""
        ...


# Where host-wide locks live (cleared at boot, as the objects they guard are).
HOST_LOCK_DIR = Path("/run/lock")


class LinuxHost:
    """The real host."""

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
        return process.spawn(
            argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, new_session=new_session
        )

    def spawn_detached(
        self, argv: Sequence[str], *, pass_fds: Sequence[int] = (), stderr_path: str | None = None
    ) -> None:
        process.spawn_detached(argv, pass_fds=pass_fds, stderr_path=stderr_path)

    def run_streaming(self, argv: Sequence[str], on_output: Callable[[bytes], None]) -> int:
        return process.run_streaming(argv, on_output)

    def wait(self, pid: int) -> int:
        _, status = os.waitpid(pid, 0)
        return process.exit_code(status)

    def wait_exit(self, pid: int, timeout: float) -> bool:
        return process.wait_exit(pid, timeout)

    def kill(self, pid: int, sig: int) -> bool:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def alive(self, pid: int) -> bool:
        return process.alive(pid)

    def start_time(self, pid: int) -> int | None:
        return process.start_time(pid)

    def read_proc(self, relative: str) -> bytes:
        with open(self.proc_path(relative), "rb") as f:
            return f.read()

    def proc_path(self, relative: str) -> Path:
        return Path("/proc") / relative

    def mount_all(self, mounts_: Sequence[Mount], target: Path) -> None:
        mounts.mount_all(mounts_, target)

    def bind_fd(self, fd: int, target: Path) -> None:
        mounts.bind_fd(fd, target)

    def unmount(self, target: Path, *, lazy: bool = False) -> None:
        mounts.unmount(target, lazy=lazy)

    def unmount_all_under(self, path: Path) -> None:
        mounts.unmount_all_under(path)

    def is_mountpoint(self, path: Path) -> bool:
        return mounts.is_mountpoint(path)

    def filesystem_type(self, path: Path) -> str:
        return mounts.filesystem_type(path)

    def kernel_version(self) -> str:
        return sysinfo.kernel_version()

    def operating_system(self) -> str:
        return sysinfo.operating_system()

    def total_memory(self) -> int:
        return sysinfo.total_memory()

    def cpu_count(self) -> int:
        return sysinfo.cpu_count()

    def online_cpus(self) -> int:
        return os.cpu_count() or 1

    def clock_ticks(self) -> int:
        return os.sysconf("SC_CLK_TCK")

    def cgroup_version(self) -> int:
        return cgroups.version()

    def hostname(self) -> str:
        return sysinfo.hostname()

    def hard_rlimit(self, name: str) -> int | None:
        return sysinfo.hard_rlimit(name)

    def capability_sets(self) -> tuple[int | None, int | None]:
        return sysinfo.cap_last_cap(), sysinfo.bounding_set()

    def has_tool(self, name: str) -> bool:
        return shutil.which(name) is not None

    def link_exists(self, name: str) -> bool:
        return netlink.link_exists(name)

    def link_is_up(self, name: str) -> bool:
        return netlink.link_is_up(name)

    def links_on(self, bridges: Iterable[str]) -> list[str]:
        return netlink.links_on(bridges)

    def netns_exists(self, name: str) -> bool:
        return netlink.netns_path(name).exists()

    def netns_names(self) -> list[str]:
        return netlink.netns_names()

    def netns_path(self, name: str) -> Path:
        return netlink.netns_path(name)

    def remove_netns_file(self, name: str) -> None:
        netlink.remove_netns_file(name)

    def write_sysctl(self, path: str, value: str) -> None:
        netlink.write_sysctl(path, value)

    def port_free(self, protocol: str, host_ip: str, port: int) -> bool:
        return netlink.port_free(protocol, host_ip, port)

    def udp_listening(self, addresses: Iterable[str]) -> bool:
        return netlink.udp_listening(addresses)

    def nameservers(self) -> list[str]:
        return netlink.host_nameservers()

    @contextlib.contextmanager
    def host_lock(self, name: str) -> Iterator[None]:
        with FileLock(HOST_LOCK_DIR / f"{name}.lock").exclusive():
            yield


def terminate(host: Host, pid: int, grace: float) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; True once ``pid`` has ended."""
    if not host.kill(pid, signal.SIGTERM):
        return True
    if host.wait_exit(pid, grace):
        return True
    with contextlib.suppress(ProcessLookupError):
        host.kill(pid, signal.SIGKILL)
    return host.wait_exit(pid, grace)

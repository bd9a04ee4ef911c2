"""Processes: spawning with chosen file descriptors, reaping, liveness, subreaping.

The container monitor reaps its children itself (it is their subreaper), so it starts
long-lived children with :func:`spawn` (no subprocess.Popen bookkeeping to confuse) and
collects them with :func:`reap`.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import time
from collections.abc import Callable, Mapping, Sequence

from cove.host.libc import libc

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
RESET_SIGNALS = (signal.SIGPIPE, signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)


def become_subreaper() -> None:
    """Orphaned descendants (the container's init, once runc exits) become our children."""
    if libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent ends (call right after fork;
    if the parent is already gone by then, exit at once)."""
    parent = os.getppid()
    if libc().prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(128 + sig)


def spawn(
    argv: Sequence[str],
    *,
    stdin: int,
    stdout: int,
    stderr: int,
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
) -> int:
    """Start ``argv`` with the given descriptors as 0, 1, 2; return its PID. The caller reaps it.
    Raises OSError when ``argv[0]`` cannot be run."""
    # posix_spawn (vfork underneath) does not copy this process's page tables as fork would.
    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate((stdin, stdout, stderr))]
    # Python opens every other descriptor close-on-exec: only 0, 1 and 2 reach argv. Signals
    # this process ignores would stay ignored in argv (and untrappable in a shell): reset them.
    return os.posix_spawnp(
        argv[0],
        list(argv),
        dict(env) if env is not None else os.environ,
        file_actions=actions,
        setsid=new_session,
        setsigdef=RESET_SIGNALS,
    )


def reap(pid: int = -1) -> tuple[int, int] | None:
    """Collect one exited child without waiting: (pid, exit code as a shell reports it)."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if got == 0:
        return None
    return got, exit_code(status)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` (not necessarily our child) has exited; False on timeout. Event-driven
    through a pidfd: no polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return not alive(pid)
            if poller.poll(remaining * 1000):
                return True
    finally:
        os.close(fd)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: tells a PID from its reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def spawn_detached(
    argv: Sequence[str], *, pass_fds: Sequence[int] = (), stderr_path: str | None = None
) -> None:
    """Start ``argv`` in a new session, not as our child (double fork): it outlives us and we
    never have to reap it. ``pass_fds`` stay open in it; stdio is /dev/null (stderr to a file)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            err = (
                os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                if stderr_path
                else devnull
            )
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(err, 2)
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            os.execv(argv[0], list(argv))
        except BaseException:
            os._exit(127)
    os.waitpid(pid, 0)


def run_streaming(argv: Sequence[str], on_output: Callable[[bytes], None], *, cwd: str | None = None) -> int:
    """Run ``argv`` with stdin empty and stdout+stderr merged into ``on_output`` as it comes;
    return its exit code. The child dies with this process (it gets SIGKILL if we go)."""
    import subprocess  # noqa: PLC0415 - the container monitor never needs it

    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
    )
    assert proc.stdout is not None
    with proc.stdout:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            on_output(chunk)
    return proc.wait()

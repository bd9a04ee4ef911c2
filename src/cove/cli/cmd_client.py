"""The lean client of the command server: hand this command to a warm cove, or say why not.

``cove`` runs here first. When a command server for this installation and runtime
directory is listening, the command runs in a fork of it with this process's stdin,
stdout, stderr, working directory, umask, limits and environment, and this process
forwards signals and exits as the command did. Otherwise the caller runs the command
itself, and a server is started in the background for the next one.

Only standard modules written in C are imported here (see ``cmd_wire``).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal itself imports enum: milliseconds
import _socket
import os
import sys

from cove.cli import cmd_wire as wire

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable

# The signals a user sends to a command (Ctrl-C, kill, a closed terminal, a resized one).
FORWARDED = (
    _signal.SIGINT,
    _signal.SIGTERM,
    _signal.SIGHUP,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGWINCH,
    _signal.SIGCONT,
)
SERVER_LOST = 125


def start_server(paths: wire.Paths) -> None:
    """Start a server in the background (a new session, stdio on /dev/null, errors to its log);
    when another one wins the race to its lock, it just exits."""
    directory = os.path.dirname(paths.socket)
    null = log = -1
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        if not os.access(directory, os.W_OK):
            return
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        actions = [
            (os.POSIX_SPAWN_DUP2, null, 0),
            (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
        ]
        argv = [sys.executable, "-m", "cove.cli.cmd_server"]
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
    except OSError:
        pass  # no server then: every command runs in its own process, as with COVE_COMMAND_SERVER=0
    finally:
        for fd in (null, log):
            if fd >= 0:
                os.close(fd)


def run(argv: list[str], start_server: Callable[[wire.Paths], None] = start_server) -> int | None:
    """The command's exit code when a server ran it; None when the caller must run it (and
    ``start_server`` was asked to start one for the next command, when there was none)."""
    env = os.environ
    if not wire.enabled(env):
        return None
    paths = wire.paths(env)
    try:
        cwd = os.getcwdb()
    except OSError:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(paths.socket)
        except OSError:
            start_server(paths)
            return None
        if not _send_request(sock, argv, cwd):
            return None
        return _await_exit(sock, paths, start_server)
    finally:
        sock.close()


def _rlimits() -> list[tuple[int, int, int]]:
    import resource

    limits = []
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            number = getattr(resource, name)
            soft, hard = resource.getrlimit(number)
            limits.append((number, soft, hard))
    return limits


def _send_request(sock: _socket.socket, argv: list[str], cwd: bytes) -> bool:
    umask = os.umask(0o22)
    os.umask(umask)
    request = wire.Request(
        wire.compatibility_key(),
        cwd,
        umask,
        _rlimits(),
        [os.fsencode(arg) for arg in argv],
        list(os.environb.items()),
    )
    payload = wire.encode_request(request)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    try:
        sock.sendmsg([wire.header(len(payload))], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(payload)
    except OSError:  # e.g. a closed stdin: let the command run here and deal with it
        return False
    return True


def _await_exit(
    sock: _socket.socket, paths: wire.Paths, start_server: Callable[[wire.Paths], None]
) -> int | None:
    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib would cost this lean module milliseconds
            sock.send(b"kill %d\n" % signum)
        except OSError:  # the server is gone: the reply loop below reports it
            pass

    def suspend(signum: int, _frame: object) -> None:
        # Ctrl-Z: stop the command, then this process; on SIGCONT both go on.
        forward(_signal.SIGSTOP, None)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, suspend)

    # A signal this process was started with ignored (a shell's `trap '' INT`, nohup's SIGHUP)
    # stays ignored, as it would for the command run here: the caller asked not to be cut short.
    for signum in FORWARDED:
        if _signal.getsignal(signum) != _signal.SIG_IGN:
            _signal.signal(signum, forward)
    if _signal.getsignal(_signal.SIGTSTP) != _signal.SIG_IGN:
        _signal.signal(_signal.SIGTSTP, suspend)

    buffer = b""
    while True:
        try:
            chunk = sock.recv(256)
        except OSError:  # reset: the server was killed before or after taking the request
            break
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            verb, _, value = line.partition(b" ")
            if verb == b"exit":
                code = _number(value, 255)
                return _lost() if code is None else code
            if verb == b"signal":
                signum = _number(value, 64)
                return _die_by(signum) if signum else _lost()
            if verb == b"stale":  # the server was older than this cove: it has left
                start_server(paths)
                return None
    return _lost()


def _lost() -> int:
    try:  # noqa: SIM105 - contextlib would cost this lean module milliseconds
        os.write(2, b"Error: the cove command server went away while running this command\n")
    except OSError:  # no stderr to say it on: the exit code still does
        pass
    return SERVER_LOST


def _number(text: bytes, highest: int) -> int | None:
    """A reply's number, when it is one in 0..highest (a garbled reply is a lost server)."""
    if not text.isdigit() or len(text) > 3:
        return None
    number = int(text)
    return number if number <= highest else None


def _die_by(signum: int) -> int:
    """Exit as the command did: killed by the same signal."""
    try:  # noqa: SIM105
        _signal.signal(signum, _signal.SIG_DFL)
    except (OSError, ValueError):  # SIGKILL's action cannot be set (it needs none), or no such signal
        pass
    try:  # noqa: SIM105
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    return 128 + signum  # the signal does not kill (SIGCHLD, say): report it as a shell would

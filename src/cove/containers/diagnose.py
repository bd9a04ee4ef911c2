"""Why a container's program cannot start, in words that name the file and the cause.

Checked before the start (``preflight``), because some failures only show once the
runtime is done (a script whose interpreter is missing makes the final exec fail with a
bare "no such file or directory"), and after a runtime error (``explain``), to tell a
missing program from a missing interpreter. Both map to Docker's exit codes: 126 cannot
invoke, 127 not found.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Protocol

from cove.errors import CoveError
from cove.host.elf import NotElf, program_interpreter

ENGINE = 125
CANNOT_INVOKE = 126
NOT_FOUND = 127
_MARKERS = (
    "executable file not found",
    "no such file or directory",
    "permission denied",
    "exec format error",
    "is a directory",
    "not a directory",
)


class Files(Protocol):
    """The container's files as it will see them, each path resolved inside it
    (``cove.engine.container_files.ContainerFiles``, ``cove.host.inroot.Root``)."""

    def lstat(self, path: str) -> os.stat_result | None: ...

    def stat(self, path: str) -> os.stat_result | None: ...

    def open(self, path: str, flags: int = ..., mode: int = ..., *, follow: bool = ...) -> int: ...


@dataclass(frozen=True)
class StartFailure:
    exit_code: int
    message: str


def _find(files: Files, program: str, path_env: str) -> str | None:
    """The file that runs: a name with a slash as it is; otherwise, as Go's exec.LookPath (runc)
    and crun search $PATH, the first executable regular file. When no entry qualifies, the
    first that exists, so that its problem can be told."""
    if "/" in program:
        return program if files.lstat(program) is not None else None
    first_existing = None
    for directory in filter(None, path_env.split(":")):
        candidate = f"{directory.rstrip('/')}/{program}"
        st = files.stat(candidate)  # through symbolic links, as the exec will
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
        if first_existing is None and files.lstat(candidate) is not None:
            first_existing = candidate
    return first_existing


def _problem(files: Files, shown: str) -> StartFailure | None:
    """What keeps this existing file from being executed, if anything."""
    st = files.stat(shown)
    if st is None:
        return StartFailure(NOT_FOUND, f"exec: {shown}: it is a symbolic link to a file that does not exist")
    if stat.S_ISDIR(st.st_mode):
        return StartFailure(CANNOT_INVOKE, f"exec: {shown}: is a directory, not a program")
    if not st.st_mode & 0o111:
        mode = f"{st.st_mode & 0o777:04o}"
        return StartFailure(
            CANNOT_INVOKE, f"exec: {shown}: permission denied: the file is not executable (mode {mode})"
        )
    if not stat.S_ISREG(st.st_mode):
        return None  # a device or FIFO marked executable: not opened here, the runtime says why
    try:
        fd = files.open(shown, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, CoveError):
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped meanwhile
            return None
        head = f.read(256)
        if head.startswith(b"#!"):
            line = head[2:].split(b"\n", 1)[0]
            if line.rstrip(b" \t").endswith(b"\r"):
                return StartFailure(
                    NOT_FOUND,
                    f"exec: {shown}: the script has Windows (CRLF) line endings, so its interpreter "
                    f"{line.decode(errors='replace').strip()!r} cannot be found; convert it with dos2unix",
                )
            words = line.decode(errors="replace").strip().split()
            if words and files.stat(words[0]) is None:
                return StartFailure(
                    NOT_FOUND, f"exec: {shown}: the script's interpreter {words[0]} is not in the image"
                )
            return None
        try:
            loader = program_interpreter(f)
        except (NotElf, OSError):
            return None
    if loader and files.stat(loader) is None:
        return StartFailure(
            NOT_FOUND,
            f"exec: {shown}: its dynamic loader {loader} is not in the image (built for another libc?)",
        )
    return None


def preflight(
    files: Files, args: list[str], path_env: str, *, missing_is_error: bool = False
) -> StartFailure | None:
    """A problem with the program that is certain before starting, or None. A program that
    is not found is one only when the caller sees the container's files as it will run
    (``missing_is_error``): before a start, mounts may still bring it."""
    if not args:
        return None
    found = _find(files, args[0], path_env)
    if found is None:
        return explain("executable file not found", files, args, path_env) if missing_is_error else None
    return _problem(files, found)


def explain(runtime_message: str, files: Files, args: list[str], path_env: str) -> StartFailure:
    """Turn the runtime's error into Docker's exit code and a message a user can act on."""
    lowered = runtime_message.lower()
    program = args[0] if args else ""
    if not any(marker in lowered for marker in _MARKERS):
        return StartFailure(ENGINE, runtime_message)
    found = _find(files, program, path_env) if program else None
    if found is None:
        where = "" if "/" in program else f" in $PATH ({path_env})"
        return StartFailure(NOT_FOUND, f'exec: "{program}": executable file not found{where}')
    problem = _problem(files, found)
    if problem is not None:
        return problem
    shown = found
    if "exec format error" in lowered:
        return StartFailure(
            CANNOT_INVOKE,
            f"exec: {shown}: exec format error: not a program for this platform (or a script without #!)",
        )
    if "permission denied" in lowered:
        return StartFailure(CANNOT_INVOKE, f"exec: {shown}: permission denied")
    return StartFailure(NOT_FOUND if "no such file" in lowered else ENGINE, runtime_message)

"""Why a container's program could not start, in words that name the file and the cause.

The runtime says "no such file or directory" both when the program is missing and when a
script's interpreter is; this looks into the container's root filesystem to tell which,
and maps the failure to Docker's exit codes (126 cannot invoke, 127 not found).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cove.containers.paths import resolve_in_root
from cove.host.elf import NotElf, program_interpreter

ENGINE = 125
CANNOT_INVOKE = 126
NOT_FOUND = 127


@dataclass(frozen=True)
class StartFailure:
    exit_code: int
    message: str


def _find(rootfs: Path, program: str, path_env: str) -> tuple[str, Path] | None:
    if "/" in program:
        host = resolve_in_root(rootfs, program)
        return (program, host) if os.path.lexists(host) else None
    for directory in path_env.split(":"):
        if not directory:
            continue
        candidate = f"{directory.rstrip('/')}/{program}"
        host = resolve_in_root(rootfs, candidate)
        if os.path.lexists(host):
            return candidate, host
    return None


def _elf_interpreter(path: Path) -> str | None:
    try:
        return program_interpreter(path)
    except (NotElf, OSError):
        return None


def explain(runtime_message: str, rootfs: Path, args: list[str], path_env: str) -> StartFailure:
    """Turn the runtime's error into Docker's exit code and a message a user can act on."""
    lowered = runtime_message.lower()
    program = args[0] if args else ""
    if not any(
        marker in lowered
        for marker in ("executable file not found", "no such file or directory", "permission denied",
                       "exec format error", "is a directory", "not a directory")
    ):  # fmt: skip
        return StartFailure(ENGINE, runtime_message)
    found = _find(rootfs, program, path_env) if program else None
    if found is None:
        where = "" if "/" in program else f" in $PATH ({path_env})"
        return StartFailure(NOT_FOUND, f'exec: "{program}": executable file not found{where}')
    shown, host = found
    try:
        st = os.stat(host)
    except OSError:
        return StartFailure(NOT_FOUND, f"{shown}: it is a symbolic link to a file that does not exist")
    if stat.S_ISDIR(st.st_mode):
        return StartFailure(CANNOT_INVOKE, f"exec: {shown}: is a directory, not a program")
    if not st.st_mode & 0o111:
        return StartFailure(
            CANNOT_INVOKE,
            f"exec: {shown}: permission denied: the file is not executable (mode {st.st_mode & 0o777:04o})",
        )
    try:
        with open(host, "rb") as f:
            head = f.read(256)
    except OSError:
        head = b""
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0]
        words = line.decode(errors="replace").strip().split()
        if line.rstrip(b" \t").endswith(b"\r"):
            return StartFailure(
                NOT_FOUND,
                f"exec: {shown}: the script has Windows (CRLF) line endings, so its interpreter "
                f"{line.decode(errors='replace').strip()!r} cannot be found; convert it with dos2unix",
            )
        if words:
            interpreter = words[0]
            if not os.path.lexists(resolve_in_root(rootfs, interpreter)):
                return StartFailure(
                    NOT_FOUND, f"exec: {shown}: the script's interpreter {interpreter} is not in the image"
                )
    loader = _elf_interpreter(host)
    if loader and not os.path.lexists(resolve_in_root(rootfs, loader)):
        return StartFailure(
            NOT_FOUND,
            f"exec: {shown}: its dynamic loader {loader} is not in the image (built for another libc?)",
        )
    if "exec format error" in lowered:
        return StartFailure(
            CANNOT_INVOKE,
            f"exec: {shown}: exec format error: not a program for this platform (or a script without #!)",
        )
    if "permission denied" in lowered:
        return StartFailure(CANNOT_INVOKE, f"exec: {shown}: permission denied")
    return StartFailure(NOT_FOUND if "no such file" in lowered else ENGINE, runtime_message)

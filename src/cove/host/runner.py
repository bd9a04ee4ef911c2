"""Running host commands behind a seam, so unit tests can record instead of execute."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from cove.errors import InternalError, Unavailable


class RunResult(NamedTuple):
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class CommandFailed(InternalError):
    def __init__(self, result: RunResult) -> None:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        last = detail[-1] if detail else f"exit status {result.returncode}"
        super().__init__(f"{result.argv[0]} failed: {last}")
        self.result = result


class Runner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> RunResult: ...


class SubprocessRunner:
    """Runs commands for real, capturing their output."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> RunResult:
        # Imported here: the lean container monitor needs it only when it stops its container.
        import subprocess  # noqa: PLC0415

        full_env = None if env is None else {**os.environ, **env}
        try:
            # Without input, a command reads nothing: never cove's own stdin (it may be a
            # container's, e.g. `cove run -i`, and the first command would eat it).
            stdin = None if input is not None else subprocess.DEVNULL
            proc = subprocess.run(
                list(argv), input=input, stdin=stdin, cwd=cwd, env=full_env, capture_output=True, check=False
            )
        except FileNotFoundError:
            raise Unavailable(
                f"{argv[0]} is not installed", hint="`make install` installs what cove needs"
            ) from None
        result = RunResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise CommandFailed(result)
        return result

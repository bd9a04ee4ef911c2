"""What every command handler gets: output streams, the configuration and a lazy engine."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from cove.cli.progress import ProgressPrinter
    from cove.config import EngineConfig
    from cove.engine.bootstrap import Engine


class Cli:
    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdin: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        *,
        defer_close: bool = False,
    ) -> None:
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self.env = os.environ if env is None else env
        self._engine: Engine | None = None
        # The command server reports a command's exit before closing its engine (housekeeping).
        self.defer_close = defer_close

    @cached_property
    def config(self) -> EngineConfig:
        from cove.config import load_config

        return load_config(self.env)

    def engine(self) -> Engine:
        if self._engine is None:
            from cove.engine.bootstrap import open_engine

            self._engine = open_engine(self.config)
            self.warn_cleanup()
        return self._engine

    def warn_cleanup(self) -> None:
        """One line on stderr for leftovers the store could not remove (each said once)."""
        if self._engine is None:
            return
        problems = self._engine.cleanup_problems()
        if problems:
            more = f"; and {len(problems) - 1} more" if len(problems) > 1 else ""
            self.err.write(f"Warning: {problems[0]}{more} (cove tries again at each command)\n")

    def progress(self, *, quiet: bool = False, plain_lines: bool = False) -> ProgressPrinter:
        from cove.cli.progress import ProgressPrinter

        return ProgressPrinter(self.err, quiet=quiet, plain_lines=plain_lines)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def confirm(self, warning: str) -> bool:
        """Ask before destructive work, as Docker does; no answer (not a terminal) means no."""
        self.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
        self.out.flush()
        answer = self.stdin.readline() if not self.stdin.closed else ""
        return answer.strip().lower() in ("y", "yes")

    def close(self) -> None:
        if not self.defer_close:
            self.finish()

    def finish(self) -> None:
        """Close the engine (the database's last connection checkpoints it: milliseconds)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

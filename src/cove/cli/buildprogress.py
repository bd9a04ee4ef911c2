"""How a build's progress is shown: BuildKit's plain lines, or a compact view on a terminal.

plain: every event as a ``#N`` line (step, cache miss and why, command output with its
time, CACHED, DONE, ERROR), good for logs and CI. tty: a line per finished step, the
running command's last output line redrawn in place, and a failing step's output in full.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from cove.engine.build import BuildEvent

TAIL_LINES = 30  # output lines kept per step, shown when the step fails


class BuildProgress:
    def __init__(self, out: TextIO, mode: str) -> None:
        self.out = out
        self.mode = mode  # plain, tty or quiet
        self.lock = threading.Lock()
        self.tails: dict[int, deque[str]] = {}
        self.names: dict[int, str] = {}
        self.failed: tuple[str, list[str]] | None = None  # the failed step and its output
        self._transient = False

    def __call__(self, event: BuildEvent) -> None:
        with self.lock:
            self.names[event.step] = event.name
            if event.kind == "output":
                self.tails.setdefault(event.step, deque(maxlen=TAIL_LINES)).append(event.text)
            if event.kind == "error":
                self.failed = (event.name, list(self.tails.get(event.step, ())))
            if self.mode == "plain":
                self._plain(event)
            elif self.mode == "tty":
                self._tty(event)

    def _plain(self, e: BuildEvent) -> None:
        n = f"#{e.step}"
        if e.kind == "start":
            line = f"{n} {e.name}"
        elif e.kind == "note":
            line = f"{n} {e.text}"
        elif e.kind == "output":
            line = f"{n} {e.elapsed:.3f} {e.text}"
        elif e.kind == "cached":
            line = f"{n} CACHED"
        elif e.kind == "done":
            line = f"{n} DONE {e.elapsed:.1f}s"
        else:
            line = f"{n} ERROR: {e.text}"
        self.out.write(line + "\n")
        if e.kind in ("done", "cached", "error"):
            self.out.write("\n")
        self.out.flush()

    def _clear(self) -> None:
        if self._transient:
            self.out.write("\r\x1b[K")
            self._transient = False

    def _tty(self, e: BuildEvent) -> None:
        if e.kind == "output":
            self._clear()
            self.out.write(f" => {e.text[:100]}")
            self._transient = True
        elif e.kind == "cached":
            self._clear()
            self.out.write(f" => CACHED {e.name}\n")
        elif e.kind == "done":
            self._clear()
            self.out.write(f" => {e.name}  {e.elapsed:.1f}s\n")
        elif e.kind == "error":
            self._clear()
            self.out.write(f" => ERROR {e.name}\n")
        self.out.flush()

    def close(self) -> None:
        with self.lock:
            self._clear()
            self.out.flush()

    def failure_report(self) -> str:
        """The failed step's output, framed as BuildKit frames it."""
        if self.failed is None:
            return ""
        name, lines = self.failed
        body = "".join(f"{line}\n" for line in lines) or "(no output)\n"
        return f"------\n > {name}:\n{body}------\n"

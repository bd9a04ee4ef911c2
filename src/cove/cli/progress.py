"""Progress on stderr: Docker-style bars redrawn in place on a terminal.

Without a terminal, progress is silent (as Docker's import, load and save are), unless
the command asks for plain lines: one per change of status, for long work whose log
should show what happened.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from cove.cli.humanize import human_size
from cove.progress import ProgressEvent

BAR_WIDTH = 50
REDRAW_INTERVAL = 0.1


def bar(current: int, total: int | None) -> str:
    if not total:
        return human_size(current) if current else ""
    filled = min(BAR_WIDTH, int(BAR_WIDTH * current / total))
    arrow = "=" * max(0, filled - 1) + (">" if filled else "")
    return f"[{arrow.ljust(BAR_WIDTH)}]  {human_size(current)}/{human_size(total)}"


class ProgressPrinter:
    """Receives progress events; call :meth:`close` when the work ends."""

    def __init__(
        self, out: TextIO, *, tty: bool | None = None, quiet: bool = False, plain_lines: bool = False
    ) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.quiet = quiet or (not self.tty and not plain_lines)
        self.lines: dict[str, str] = {}
        self.statuses: dict[str, str] = {}
        self.drawn = 0
        self.last_draw = 0.0
        self._lock = threading.Lock()  # layers report from several threads at once

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            self._take(event)

    def _take(self, event: ProgressEvent) -> None:
        text = f"{event.id}: {event.status}"
        detail = bar(event.current, event.total) if event.current or event.total else ""
        if self.tty:
            self.lines[event.id] = f"{text} {detail}".rstrip()
            now = time.monotonic()
            if now - self.last_draw >= REDRAW_INTERVAL or self.statuses.get(event.id) != event.status:
                self._draw()
                self.last_draw = now
        elif self.statuses.get(event.id) != event.status:
            # Without a terminal, one line per change of status; no byte counts spam.
            self.out.write(text + "\n")
            self.out.flush()
        self.statuses[event.id] = event.status

    def _draw(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}A")
        for line in self.lines.values():
            self.out.write("\x1b[2K" + line + "\n")
        self.drawn = len(self.lines)
        self.out.flush()

    def close(self) -> None:
        with self._lock:
            if self.tty and self.lines and not self.quiet:
                self._draw()

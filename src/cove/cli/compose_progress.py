"""Compose's progress as Docker Compose prints it, on stderr.

On a terminal, a block redrawn in place: ``[+] Running 2/3`` and one line per resource
(``✔ Container app-web-1  Started``, a spinner while it works). Otherwise plain lines, one per
event (`` Container app-web-1  Started``). Warnings are ``WARN[0000]`` lines either way.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from cove.compose.progress import Event, Kind, Phase

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
REDRAW = 0.1
MARK = {Phase.DONE: "✔", Phase.ERROR: "✘", Phase.WARNING: "!"}


class ComposeProgress:
    """Receives compose's events (from several threads); :meth:`close` draws the end."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, title: str = "Running") -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.title = title
        self.rows: dict[str, Event] = {}  # "Kind name" -> its latest event, in first-seen order
        self.began: dict[str, float] = {}
        self.took: dict[str, float] = {}
        self.drawn = 0
        self.last = 0.0
        self.lock = threading.Lock()
        self.closed = False
        self.stopped = threading.Event()
        if self.tty:  # spinners and times move while a container is waited on
            threading.Thread(target=self._tick, daemon=True, name="compose-progress").start()

    def _tick(self) -> None:
        while not self.stopped.wait(REDRAW):
            with self.lock:
                if self.rows and not self.closed:
                    self._draw()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if event.phase is Phase.WARNING and event.detail:
                self._above(f"WARN[0000] {event.detail}")
                return
            if event.kind is Kind.SERVICE:
                return
            key = f"{event.kind.value} {event.name}"
            now = time.monotonic()
            self.began.setdefault(key, now)
            if event.phase is Phase.WORKING:
                self.took.pop(key, None)
            else:
                self.took[key] = now - self.began[key]
            self.rows[key] = event
            if not self.tty:
                self.out.write(f" {key}  {event.status}\n")
                self.out.flush()
            elif now - self.last >= REDRAW or event.phase is not Phase.WORKING:
                self._draw()

    def _above(self, line: str) -> None:
        """A line printed once, above the live block."""
        if self.tty and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0
        self.out.write(line + "\n")
        if self.tty and self.rows:
            self._draw()
        self.out.flush()

    def _draw(self) -> None:
        self.last = now = time.monotonic()
        done = sum(1 for e in self.rows.values() if e.phase is not Phase.WORKING)
        width = max((len(k) for k in self.rows), default=0)
        frame = SPINNER[int(now * 10) % len(SPINNER)]
        lines = [f"[+] {self.title} {done}/{len(self.rows)}"]
        for key, event in self.rows.items():
            mark = MARK.get(event.phase, frame)
            seconds = self.took.get(key, now - self.began[key])
            lines.append(f" {mark} {key.ljust(width)}  {event.status:<10} {seconds:4.1f}s")
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")
        self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            if self.tty and self.rows and not self.closed:
                self._draw()
            self.closed = True

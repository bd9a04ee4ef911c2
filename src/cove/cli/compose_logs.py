"""Printing a project's log lines as Docker Compose does: ``web-1  | text``, each container's
prefix in its own colour, padded to the longest name seen so far (``logs``, attached ``up``).

The colours rotate through Docker Compose's ten (cyan, yellow, green, magenta, blue, then
their bright forms), in the order containers first appear. An exit is printed in the
container's colour without the bar: ``web-1 exited with code 0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from cove.compose.logstream import LogLine

# Docker Compose's rotation: the basic colours, then the same ones bold ("intense").
RAINBOW = ("36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1")
RESET = "\x1b[0m"


def paint(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}{RESET}"


def rfc3339_nano(moment: float) -> str:
    """Docker's log timestamp (RFC 3339 with nanoseconds, UTC)."""
    from datetime import UTC, datetime

    whole = int(moment)
    nanos = round((moment - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


class LogPrinter:
    """Prefixes and colours for a set of containers that grows as lines come."""

    def __init__(
        self,
        out: TextIO,
        *,
        prefix: bool = True,
        color: bool = True,
        timestamps: bool = False,
        names: Iterable[str] = (),
    ) -> None:
        self.out = out
        self.prefix = prefix
        self.color = color
        self.timestamps = timestamps
        self._colors: dict[str, str] = {}
        self._width = 0
        for name in names:
            self.register(name)

    def register(self, name: str) -> None:
        """Give ``name`` the next colour (and widen the prefixes to fit it)."""
        if name in self._colors:
            return
        self._colors[name] = RAINBOW[len(self._colors) % len(RAINBOW)]
        self._width = max(self._width, len(name) + 1)

    def color_of(self, name: str) -> str:
        self.register(name)
        return self._colors[name]

    def prefix_of(self, name: str) -> str:
        self.register(name)
        if not self.prefix:
            return ""
        text = f"{name:<{self._width}} | "
        return paint(self._colors[name], text) if self.color else text

    def format(self, line: LogLine) -> str:
        """The printed text of one line, with its newline."""
        from cove.compose.logstream import EXIT

        if line.stream == EXIT:
            text = f"{line.name} {line.text}"
            return (paint(self.color_of(line.name), text) if self.color else text) + "\n"
        text = f"{rfc3339_nano(line.time)} {line.text}" if self.timestamps else line.text
        return f"{self.prefix_of(line.name)}{text}\n"

    def write(self, line: LogLine) -> None:
        self.out.write(self.format(line))
        self.out.flush()


def print_lines(
    out: TextIO,
    lines: Iterable[LogLine],
    *,
    prefix: bool = True,
    color: bool = True,
    timestamps: bool = False,
    names: Iterable[str] = (),
) -> LogPrinter:
    """Print every line as it comes (flushed each time); ``names``: the containers known in
    advance, so that the prefixes' width is right from the first line. Returns the printer
    (for exits printed later in the same colours)."""
    printer = LogPrinter(out, prefix=prefix, color=color, timestamps=timestamps, names=names)
    for line in lines:
        printer.write(line)
    return printer

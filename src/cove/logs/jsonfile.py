"""Docker's json-file log format, one JSON object per line::

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}

The writer rotates (``NAME``, ``NAME.1`` ... ``NAME.<max_files-1>``); the reader reads the
newest lines first when asked for a tail, so ``--tail`` stays fast on huge logs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cove.host.inotify import Watcher

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILES = 5
_BLOCK = 64 * 1024


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's RFC3339Nano."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch for a log time (fast path for our own format)."""
    main, _, rest = text.partition(".")
    frac = rest.rstrip("Z")
    whole = time.mktime(time.strptime(main.rstrip("Z"), "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return whole + (float("0." + frac) if frac.isdigit() else 0.0)


class JsonFileWriter:
    def __init__(
        self, path: Path, max_size: int = DEFAULT_MAX_SIZE, max_files: int = DEFAULT_MAX_FILES
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = self._file.tell()

    def write(self, stream: str, text: bytes, ns: int | None = None) -> None:
        record = {
            "log": text.decode("utf-8", "replace"),
            "stream": stream,
            "time": format_time(ns if ns is not None else time.time_ns()),
        }
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        if self.max_size and self._size + len(line) > self.max_size and self._size > 0:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        if self.max_files > 1:
            for n in range(self.max_files - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
                if newer.exists():
                    os.replace(newer, older)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        else:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - keep one file: start it over
        self._size = 0

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class LogEntry:
    stream: str
    time: str
    text: str


def _parse(line: bytes) -> LogEntry | None:
    try:
        data = json.loads(line)
        return LogEntry(data["stream"], data["time"], data["log"])
    except (ValueError, KeyError, TypeError):
        return None


def log_files(path: Path) -> list[Path]:
    """All files of one log, oldest first."""
    rotated = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.name.rsplit(".", 1)[-1].isdigit()),
        key=lambda p: -int(p.name.rsplit(".", 1)[-1]),
    )
    return [*rotated, path] if path.exists() else rotated


def end_of(path: Path) -> int:
    """Where the live log file ends now: read up to here, then follow from here."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _lines_backwards(path: Path, end: int | None) -> Iterator[bytes]:
    """The lines of a file before ``end``, last first, reading blocks from the end."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        pos = f.tell() if end is None else min(end, f.tell())
        rest = b""
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step) + rest
            lines = block.split(b"\n")
            rest = lines[0]
            for line in reversed(lines[1:]):
                if line:
                    yield line
        if rest:
            yield rest


def read(
    path: Path,
    *,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    end: int | None = None,
) -> list[LogEntry]:
    """The entries of a log (all rotated files), oldest first, filtered like ``docker logs``.

    ``end`` stops reading the live file at that offset (see :func:`end_of`).
    """

    def keep(entry: LogEntry) -> bool:
        if since is None and until is None:
            return True
        moment = parse_time(entry.time)
        return (since is None or moment >= since) and (until is None or moment <= until)

    if tail is not None:
        picked: list[LogEntry] = []
        for file in reversed(log_files(path)):
            for line in _lines_backwards(file, end if file == path else None):
                entry = _parse(line)
                if entry is None or not keep(entry):
                    continue
                picked.append(entry)
                if len(picked) >= tail:
                    return picked[::-1]
        return picked[::-1]
    out = []
    for file in log_files(path):
        with open(file, "rb") as f:
            data = f.read(end) if file == path and end is not None else f.read()
        for line in data.splitlines():
            entry = _parse(line)
            if entry is not None and keep(entry):
                out.append(entry)
    return out


def follow(path: Path, still_running: Callable[[], bool], *, start: int) -> Iterator[LogEntry]:
    """Entries written after offset ``start`` of the live file, across rotations, until the
    writer is gone and everything is read. Waits with inotify, never by polling in a loop.
    """
    watcher = Watcher()
    watcher.add(path.parent)
    try:
        f = open(path, "rb")  # noqa: SIM115 - reopened on rotation
        f.seek(start)
        inode = os.fstat(f.fileno()).st_ino
        partial = b""
        while True:
            chunk = f.read()
            if chunk:
                data = partial + chunk
                lines = data.split(b"\n")
                partial = lines.pop()
                for line in lines:
                    entry = _parse(line)
                    if entry is not None:
                        yield entry
                continue
            try:
                rotated = os.stat(path).st_ino != inode
            except FileNotFoundError:
                rotated = False
            if rotated:  # the writer moved on to a new file: finish this one, then switch
                f.close()
                f = open(path, "rb")  # noqa: SIM115
                inode = os.fstat(f.fileno()).st_ino
                partial = b""
                continue
            if not still_running():
                # One last look: the writer may have written its last lines just now.
                tail = f.read()
                if not tail:
                    return
                f.seek(-len(tail), os.SEEK_CUR)
                continue
            watcher.wait(1.0)
    finally:
        watcher.close()

"""Docker's json-file log format, one JSON object per line::

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}

The writer rotates (``NAME``, ``NAME.1`` ... ``NAME.<max_files-1>``); the reader reads the
newest lines first when asked for a tail, so ``--tail`` stays fast on huge logs.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple

from cove.host.inotify import Watcher

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILES = 5
_BLOCK = 64 * 1024
_SCANS = 3  # how often to look again for a file that a rotation in progress may hide
RETRY_INTERVAL = 1.0  # seconds between tries to write a log that could not be written


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's RFC3339Nano."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch for a log time (fast path for our own format, always UTC)."""
    main, _, rest = text.partition(".")
    frac = rest.rstrip("Z")
    whole = _utc_seconds(time.strptime(main.rstrip("Z"), "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0." + frac) if frac.isdigit() else 0.0)


def _utc_seconds(tm: time.struct_time) -> int:
    """calendar.timegm, without importing calendar into the monitor: the struct is UTC, so
    no local time zone (and its summer time, which time.mktime would apply) comes into it."""
    # Leap years from 1970 up to the year before tm's (negative before 1970).
    leap_days = _leap_years_through(tm.tm_year - 1) - _leap_years_through(1969)
    days = 365 * (tm.tm_year - 1970) + leap_days + tm.tm_yday - 1
    return ((days * 24 + tm.tm_hour) * 60 + tm.tm_min) * 60 + tm.tm_sec


def _leap_years_through(year: int) -> int:
    return year // 4 - year // 100 + year // 400


class JsonFileWriter:
    """Appends records to a log, rotating it; never raises for a failed write.

    A write that fails (a full disk, a quota, an I/O error) drops its line, whole: the file is
    cut back to where the line began, so it never holds half a record. Dropped lines and bytes
    are counted (``dropped_lines``, ``dropped_bytes``, ``error`` says why); writing is tried
    again ``retry_interval`` seconds later, and the first line that goes in is preceded by a
    note of what was lost. The container's output is never held back for its log.
    """

    def __init__(
        self,
        path: Path,
        max_size: int = DEFAULT_MAX_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        *,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.retry_interval = retry_interval
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self.error = ""  # why the last line was dropped
        self._unnoted = (0, 0)  # lines and bytes dropped since the last note in the log
        self._retry_at = 0.0
        self._file: IO[bytes] | None = None
        self._size = 0
        try:
            self._reopen("ab")
        except OSError as exc:  # the log cannot even be created: lines are dropped until it can
            self._failed(exc)

    def write(self, stream: str, text: bytes, ns: int | None = None) -> None:
        line = _record(stream, text.decode("utf-8", "replace"), ns)
        if self._retry_at and time.monotonic() < self._retry_at:
            self._drop(line)
            return
        lines, size = self._unnoted
        if lines and not self._append(_record("stderr", _note(lines, size, self.error), None)):
            self._drop(line)
            return
        self._unnoted = (0, 0)
        if not self._append(line):
            self._drop(line)

    def _append(self, line: bytes) -> bool:
        """Write one whole record, or nothing (False)."""
        try:
            if self._file is None:
                self._reopen("ab")
            elif self.max_size and self._size + len(line) > self.max_size and self._size > 0:
                self._rotate()
            assert self._file is not None
            view = memoryview(line)
            while view:  # a short write (the disk filled up mid-line) is followed by an error
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
        except OSError as exc:
            self._failed(exc)
            return False
        self._size += len(line)
        self._retry_at = 0.0
        return True

    def _failed(self, exc: OSError) -> None:
        self.error = exc.strerror or str(exc)
        self._retry_at = time.monotonic() + self.retry_interval
        if self._file is not None:
            try:  # takes blocks back, needs none: the file ends with the last whole record
                os.ftruncate(self._file.fileno(), self._size)
            except OSError:
                self._file.close()
                self._file = None  # reopened (and measured again) at the next try

    def _drop(self, line: bytes) -> None:
        self.dropped_lines += 1
        self.dropped_bytes += len(line)
        lines, size = self._unnoted
        self._unnoted = (lines + 1, size + len(line))

    def _reopen(self, mode: str) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        file = open(self.path, mode, buffering=0)  # noqa: SIM115 - closed by close()
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    def _rotate(self) -> None:
        if self.max_files > 1:
            for n in range(self.max_files - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
                if newer.exists():
                    os.replace(newer, older)
            self._reopen("ab")
        else:
            self._reopen("wb")  # keep one file: start it over

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _record(stream: str, text: str, ns: int | None) -> bytes:
    record = {"log": text, "stream": stream, "time": format_time(ns if ns is not None else time.time_ns())}
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _note(lines: int, size: int, why: str) -> str:
    return f"[cove] {lines} lines ({size} bytes) of output were not logged: {why}\n"


class LogEntry(NamedTuple):
    stream: str
    time: str
    text: str


def _parse(line: bytes) -> LogEntry | None:
    try:
        data = json.loads(line)
        return LogEntry(data["stream"], data["time"], data["log"])
    except (ValueError, KeyError, TypeError):
        return None


def _rotated_files(path: Path) -> list[Path]:
    """The rotated files of a log (``NAME.1`` ...), oldest first."""
    return sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.name.rsplit(".", 1)[-1].isdigit()),
        key=lambda p: -int(p.name.rsplit(".", 1)[-1]),
    )


def log_files(path: Path) -> list[Path]:
    """All files of one log, oldest first."""
    rotated = _rotated_files(path)
    return [*rotated, path] if path.exists() else rotated


class Offset(int):
    """A place in the live log file that also names the file (its inode; None when there was
    no live file), so readers can tell whether the log rotated since, and where the file went.
    """

    inode: int | None

    def __new__(cls, offset: int, inode: int | None) -> Offset:
        self = super().__new__(cls, offset)
        self.inode = inode
        return self


def end_of(path: Path) -> Offset:
    """Where the live log file ends now: read up to here, then follow from here."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return Offset(0, None)
    return Offset(st.st_size, st.st_ino)


Stat = Callable[[Path], os.stat_result]
"""How a follower looks at a log file's name (a seam: tests run the writer at that moment)."""


def _inode(path: Path, stat: Stat = os.stat) -> int | None:
    try:
        return stat(path).st_ino
    except FileNotFoundError:
        return None


def _files_upto(path: Path, end: int | None) -> list[tuple[Path, int | None]]:
    """The files of a log to read, oldest first, each with the offset to stop at (None: its end).

    A plain ``end`` applies to the live file. An :class:`Offset` names its file: if the log
    rotated since end_of(), reading stops in that file, wherever rotation moved it, and leaves
    the newer files to :func:`follow`, which starts at the same place.
    """
    if not isinstance(end, Offset) or end.inode is None:
        return [(file, end if file == path else None) for file in log_files(path)]
    for _ in range(_SCANS):
        upto: list[tuple[Path, int | None]] = []
        for file in log_files(path):
            if _inode(file) == end.inode:
                return [*upto, (file, int(end))]
            upto.append((file, None))
    return []  # rotated out since: every file left is newer, follow's to read


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

    ``tail`` keeps the last so many entries (0: none; negative: all, as in Docker). ``end``
    stops reading the live file at that offset (see :func:`end_of`).
    """

    def keep(entry: LogEntry) -> bool:
        if since is None and until is None:
            return True
        moment = parse_time(entry.time)
        return (since is None or moment >= since) and (until is None or moment <= until)

    if tail == 0:  # `logs --tail 0`: no old lines (with --follow, only new ones)
        return []
    files = _files_upto(path, end)
    if tail is not None and tail > 0:
        picked: list[LogEntry] = []
        for file, stop in reversed(files):
            for line in _lines_backwards(file, stop):
                entry = _parse(line)
                if entry is None or not keep(entry):
                    continue
                picked.append(entry)
                if len(picked) >= tail:
                    return picked[::-1]
        return picked[::-1]
    out = []
    for file, stop in files:
        with open(file, "rb") as f:
            data = f.read() if stop is None else f.read(stop)
        for line in data.splitlines():
            entry = _parse(line)
            if entry is not None and keep(entry):
                out.append(entry)
    return out


class _Tail:
    """One file of a log being followed: its handle, its identity and an unfinished line."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.inode = os.fstat(file.fileno()).st_ino
        self.partial = b""

    def entries(self) -> Iterator[LogEntry]:
        """The complete lines written since the last call (read in blocks: memory stays
        bounded when following a huge log from its start)."""
        while chunk := self.file.read(_BLOCK):
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                entry = _parse(line)
                if entry is not None:
                    yield entry

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def started_over(self) -> bool:
        """Whether the writer truncated this file (a log of one file starts over in place)."""
        return self.size() < self.file.tell()

    def rewind(self) -> None:
        self.file.seek(0)
        self.partial = b""

    def close(self) -> None:
        self.file.close()


def _open(path: Path) -> _Tail | None:
    try:
        return _Tail(open(path, "rb"))  # closed by _Tail.close
    except FileNotFoundError:
        return None


def _open_oldest(path: Path) -> _Tail | None:
    for file in log_files(path):
        tail = _open(file)
        if tail is not None:
            return tail
    return None


def _open_inode(path: Path, inode: int) -> _Tail | None:
    """The file of the log that is ``inode``, wherever rotation moved it; None once it is gone."""
    for _ in range(_SCANS):  # a rotation during a scan can hide it from that scan
        for file in [path, *reversed(_rotated_files(path))]:
            tail = _open(file)
            if tail is not None and tail.inode == inode:
                return tail
            if tail is not None:
                tail.close()
    return None


def _open_start(path: Path, start: int) -> _Tail | None:
    """The file to follow first, positioned at ``start``; None while the log does not exist."""
    if isinstance(start, Offset) and start.inode is not None:
        # The file end_of() saw: still live, or rotated (then the newer files follow it), or
        # rotated out, when every file left is newer.
        tail = _open_inode(path, start.inode) or _open_oldest(path)
        if tail is not None and tail.inode != start.inode:
            return tail  # from its start
    else:
        tail = _open(path)
    if tail is not None and start <= tail.size():
        tail.file.seek(start)
    # else the file is shorter: a one-file log that started over since; read it from its start
    return tail


def _open_next(path: Path, current: _Tail, stat: Stat) -> _Tail | None:
    """The file the writer went on to after ``current``, opened; None while ``current`` is the
    live file. One rotation or several: the follower must read every file in turn.
    """
    for _ in range(_SCANS):
        if _inode(path, stat) == current.inode:  # the usual case, one stat
            return None
        names = [path, *reversed(_rotated_files(path))]  # newest first
        inodes = [_inode(name, stat) for name in names]
        if current.inode in inodes[1:]:
            at = inodes.index(current.inode)
            newer = _open(names[at - 1])
            # Still where it was after the newer file was opened: no rotation came between,
            # so ``newer`` is the very next file.
            if newer is not None and _inode(names[at], stat) == current.inode:
                return newer
            if newer is not None:
                newer.close()
        elif os.fstat(current.file.fileno()).st_nlink == 0:
            # Rotated out and deleted (the follower fell behind): go on with the oldest left.
            return _open_oldest(path)  # None: the whole log is gone (the container was removed)
    # Not found where rotation puts it (moved away by hand?): go on with the live file.
    return _open(path)


def follow(
    path: Path, still_running: Callable[[], bool], *, start: int, stat: Stat = os.stat
) -> Generator[LogEntry, None, None]:
    """Entries written after offset ``start`` of the live file (see :func:`end_of`), across
    rotations, until the writer is gone and everything is read. Waits with inotify, never by
    polling in a loop; waits for a log that does not exist yet while the writer runs.
    Closing the generator early (``logs --until``) closes its file. ``stat`` is how it
    looks for rotations (between its reads and the writer's renames).
    """
    watcher = Watcher()
    current: _Tail | None = None
    try:
        try:
            watcher.add(path.parent)
        except FileNotFoundError:
            return  # the container (and its log) is gone: nothing will be written
        writer_gone = False
        while True:
            if current is None:
                current = _open_start(path, start)
            if current is not None:
                yield from current.entries()
                newer = _open_next(path, current, stat)
                if newer is not None:
                    # The writer never writes to a rotated file again: what it added before
                    # the rotation is all that is left of it.
                    yield from current.entries()
                    current.close()
                    current = newer
                    continue
                if current.started_over():
                    current.rewind()
                    continue
            if writer_gone:
                return  # drained: this file and every newer one are read to their end
            # Once the writer is gone, one more pass reads what it wrote last, in any file.
            writer_gone = not still_running()
            if not writer_gone:
                watcher.wait(1.0)
    finally:
        if current is not None:
            current.close()
        watcher.close()

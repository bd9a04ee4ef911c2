"""Docker's json-file log format: writing, rotating, reading, tailing and following."""

from __future__ import annotations

import calendar
import gc
import json
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.logs import jsonfile
from cove.logs.jsonfile import JsonFileWriter, LogEntry

BASE = calendar.timegm((2024, 5, 1, 10, 0, 0, 0, 0, 0))  # 2024-05-01T10:00:00Z
SECOND = 1_000_000_000


def ns(seconds: float) -> int:
    """Nanoseconds since the epoch for BASE + seconds."""
    return BASE * SECOND + round(seconds * SECOND)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "c.log"


@pytest.fixture
def writer(log_path: Path) -> Iterator[JsonFileWriter]:
    w = JsonFileWriter(log_path, max_size=0)
    yield w
    w.close()


def texts(entries: list[LogEntry]) -> list[str]:
    return [entry.text for entry in entries]


def line_of(n: int) -> bytes:
    return b"line %06d\n" % n


def write_lines(w: JsonFileWriter, numbers: range, stream: str = "stdout") -> None:
    for n in numbers:
        w.write(stream, line_of(n), ns=ns(n))


# -- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (ns(0.123456789), "2024-05-01T10:00:00.123456789Z"),
        (ns(0.5), "2024-05-01T10:00:00.5Z"),
        (ns(0.000000001), "2024-05-01T10:00:00.000000001Z"),
        (ns(0.1203), "2024-05-01T10:00:00.1203Z"),
        (ns(0), "2024-05-01T10:00:00Z"),
        (ns(86_399.999999999), "2024-05-02T09:59:59.999999999Z"),
        (0, "1970-01-01T00:00:00Z"),
    ],
)
def test_format_time_is_rfc3339nano(nanos: int, text: str) -> None:
    assert jsonfile.format_time(nanos) == text


@pytest.mark.parametrize("seconds", [0, 0.5, 0.123456, 59.999999, 3600 * 24 * 200 + 0.25])
def test_parse_time_inverts_format_time(seconds: float) -> None:
    text = jsonfile.format_time(ns(seconds))
    assert jsonfile.parse_time(text) == pytest.approx(BASE + seconds, abs=1e-6)


@pytest.fixture
def summer_time_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone with daylight saving time (the host's TZ must not matter)."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        if time.tzname != ("CET", "CEST"):
            pytest.skip("the Europe/Berlin time zone is not installed")
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.usefixtures("summer_time_zone")
@pytest.mark.parametrize(
    "utc",
    [
        (2024, 1, 15, 12, 0, 0),  # winter: standard time
        (2024, 7, 1, 12, 0, 0),  # summer: daylight saving time
    ],
)
def test_parse_time_does_not_depend_on_the_local_time_zone(utc: tuple[int, ...]) -> None:
    expected = calendar.timegm((*utc, 0, 0, 0))
    year, month, day, hour, minute, second = utc
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.25Z"
    assert jsonfile.parse_time(text) == pytest.approx(expected + 0.25, abs=1e-3)


@pytest.mark.usefixtures("summer_time_zone")
def test_since_filter_in_a_summer_time_zone(log_path: Path, writer: JsonFileWriter) -> None:
    noon = calendar.timegm((2024, 7, 1, 12, 0, 0, 0, 0, 0))
    writer.write("stdout", b"early\n", ns=noon * SECOND)
    writer.write("stdout", b"late\n", ns=(noon + 1800) * SECOND)
    assert texts(jsonfile.read(log_path, since=noon + 900)) == ["late\n"]


# -- writing --------------------------------------------------------------------------------


def test_writer_writes_docker_json_file_lines(log_path: Path, writer: JsonFileWriter) -> None:
    writer.write("stdout", b"hello\n", ns=ns(0.123456789))
    writer.write("stderr", b"oops\n", ns=ns(1))
    lines = log_path.read_bytes().split(b"\n")
    assert lines == [
        b'{"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}',
        b'{"log":"oops\\n","stream":"stderr","time":"2024-05-01T10:00:01Z"}',
        b"",
    ]


def test_writer_keeps_each_chunk_as_one_record(log_path: Path, writer: JsonFileWriter) -> None:
    # The monitor splits output into lines; the writer records what it is given, so a
    # partial line (no newline yet, or one cut at the partial-line limit) stays as it is.
    writer.write("stdout", b"no newline yet", ns=ns(0))
    writer.write("stdout", b"two\nlines\n", ns=ns(1))
    writer.write("stdout", b"", ns=ns(2))
    raw = log_path.read_bytes().splitlines()
    assert len(raw) == 3
    assert [json.loads(line)["log"] for line in raw] == ["no newline yet", "two\nlines\n", ""]
    assert texts(jsonfile.read(log_path)) == ["no newline yet", "two\nlines\n", ""]


def test_writer_text_encoding(log_path: Path, writer: JsonFileWriter) -> None:
    writer.write("stdout", 'grüße ✓ "quoted" \\ tab\t\r\n'.encode(), ns=ns(0))
    writer.write("stdout", b"bad \xff\xfe bytes\n", ns=ns(1))
    writer.write("stdout", b"nul\x00 and esc\x1b[0m\n", ns=ns(2))
    raw = log_path.read_bytes()
    assert "grüße ✓".encode() in raw  # UTF-8, not \u escapes
    assert raw.count(b"\n") == 3  # control characters are escaped: one record per line
    entries = jsonfile.read(log_path)
    assert texts(entries) == [
        'grüße ✓ "quoted" \\ tab\t\r\n',
        "bad \ufffd\ufffd bytes\n",  # invalid UTF-8 becomes U+FFFD, as Go's encoding/json does
        "nul\x00 and esc\x1b[0m\n",
    ]


def test_writer_stamps_the_current_time(log_path: Path, writer: JsonFileWriter) -> None:
    before = time.time()
    writer.write("stdout", b"now\n")
    after = time.time()
    [entry] = jsonfile.read(log_path)
    assert entry.time.endswith("Z")
    assert before - 1e-6 <= jsonfile.parse_time(entry.time) <= after + 1e-6


def test_read_returns_streams_and_times(log_path: Path, writer: JsonFileWriter) -> None:
    writer.write("stdout", b"out\n", ns=ns(0.5))
    writer.write("stderr", b"err\n", ns=ns(1.25))
    assert jsonfile.read(log_path) == [
        LogEntry("stdout", "2024-05-01T10:00:00.5Z", "out\n"),
        LogEntry("stderr", "2024-05-01T10:00:01.25Z", "err\n"),
    ]


# -- rotation -------------------------------------------------------------------------------

LINE_SIZE = len(b'{"log":"line 000000\\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}\n')


def test_rotation_keeps_max_files(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 4, max_files=3)
    write_lines(w, range(30))
    w.close()
    names = sorted(p.name for p in log_path.parent.iterdir())
    assert names == ["c.log", "c.log.1", "c.log.2"]
    for file in jsonfile.log_files(log_path):
        assert file.stat().st_size <= LINE_SIZE * 4, file
    # Oldest first, each file a run of consecutive lines, ending with the last one written.
    # Four lines a file: 20-23, 24-27 and 28-29 are left.
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(20, 30)]
    assert [json.loads(line)["log"] for line in (log_path.parent / "c.log.2").read_bytes().splitlines()] == [
        line_of(n).decode() for n in range(20, 24)
    ]


def test_rotation_happens_at_max_size(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=5)
    write_lines(w, range(2))
    assert log_path.stat().st_size == LINE_SIZE * 2  # full, not rotated yet
    assert jsonfile.log_files(log_path) == [log_path]
    write_lines(w, range(2, 3))
    w.close()
    assert jsonfile.log_files(log_path) == [log_path.with_name("c.log.1"), log_path]
    assert log_path.stat().st_size == LINE_SIZE


def test_rotated_files_sort_numerically(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE, max_files=12)
    write_lines(w, range(12))
    w.close()
    files = jsonfile.log_files(log_path)
    assert [f.name for f in files] == [f"c.log.{n}" for n in range(11, 0, -1)] + ["c.log"]
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(12)]


def test_one_file_is_started_over(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=1)
    write_lines(w, range(10))
    w.close()
    assert [p.name for p in log_path.parent.iterdir()] == ["c.log"]
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(9, 10)]


def test_a_line_larger_than_max_size_gets_a_file_of_its_own(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=4)
    write_lines(w, range(1))
    w.write("stdout", b"x" * 10_000 + b"\n", ns=ns(1))
    write_lines(w, range(2, 3))
    w.close()
    assert [len(e.text) for e in jsonfile.read(log_path)] == [len(line_of(0)), 10_001, len(line_of(2))]
    assert len(jsonfile.log_files(log_path)) == 3


def test_no_rotation_without_max_size(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=0, max_files=2)
    write_lines(w, range(200))
    w.close()
    assert jsonfile.log_files(log_path) == [log_path]
    assert len(jsonfile.read(log_path)) == 200


def test_a_reopened_writer_counts_what_is_there(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=3)
    write_lines(w, range(2))
    w.close()
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=3)
    write_lines(w, range(2, 4))  # the fourth line no longer fits
    w.close()
    assert [f.name for f in jsonfile.log_files(log_path)] == ["c.log.1", "c.log"]
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(4)]


# -- reading --------------------------------------------------------------------------------


def test_read_of_a_missing_log(log_path: Path) -> None:
    assert jsonfile.read(log_path) == []
    assert jsonfile.read(log_path, tail=10) == []
    assert jsonfile.end_of(log_path) == 0


def test_read_only_rotated_files_when_the_live_one_is_gone(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE, max_files=3)
    write_lines(w, range(3))
    w.close()
    log_path.unlink()
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(2)]


def test_read_ignores_other_files(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE, max_files=3)
    write_lines(w, range(3))
    w.close()
    stray = {"c.log.tmp": 100, "c.log.1.gz": 101, "c.log2": 102, "c.logx.1": 103, "d.log": 104}
    for name, n in stray.items():
        other = JsonFileWriter(log_path.with_name(name))
        other.write("stdout", line_of(n), ns=ns(n))
        other.close()
    assert [f.name for f in jsonfile.log_files(log_path)] == ["c.log.2", "c.log.1", "c.log"]
    assert texts(jsonfile.read(log_path)) == [line_of(n).decode() for n in range(3)]


def test_read_skips_broken_lines(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(2))
    with open(log_path, "ab") as f:
        f.write(b"garbage\n\n[1, 2]\n{}\n")
    write_lines(writer, range(2, 3))
    with open(log_path, "ab") as f:
        f.write(b'{"log":"cut off in the midd')  # a write in progress
    expected = [line_of(n).decode() for n in range(3)]
    assert texts(jsonfile.read(log_path)) == expected
    assert texts(jsonfile.read(log_path, tail=10)) == expected
    assert texts(jsonfile.read(log_path, tail=1)) == expected[-1:]


def test_read_stops_at_end(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(3))
    end = jsonfile.end_of(log_path)
    write_lines(writer, range(3, 6))
    assert texts(jsonfile.read(log_path, end=end)) == [line_of(n).decode() for n in range(3)]
    assert texts(jsonfile.read(log_path, tail=2, end=end)) == [line_of(n).decode() for n in range(1, 3)]


def test_end_applies_to_the_live_file_only(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=3)
    write_lines(w, range(3))
    end = jsonfile.end_of(log_path)
    assert end == LINE_SIZE
    write_lines(w, range(3, 4))
    w.close()
    assert texts(jsonfile.read(log_path, end=end)) == [line_of(n).decode() for n in range(3)]
    assert texts(jsonfile.read(log_path, end=end, tail=5)) == [line_of(n).decode() for n in range(3)]


# -- tail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tail", "first"), [(1, 9), (3, 7), (10, 0), (1000, 0)])
def test_tail(log_path: Path, writer: JsonFileWriter, tail: int, first: int) -> None:
    write_lines(writer, range(10))
    assert texts(jsonfile.read(log_path, tail=tail)) == [line_of(n).decode() for n in range(first, 10)]


def test_tail_zero_shows_nothing(log_path: Path, writer: JsonFileWriter) -> None:
    # `docker logs --tail 0` prints no lines (and with --follow, only new ones).
    write_lines(writer, range(10))
    assert jsonfile.read(log_path, tail=0) == []


def test_tail_across_rotated_files(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=4)
    write_lines(w, range(10))  # files: 0-2, 3-5, 6-8, 9
    w.close()
    assert texts(jsonfile.read(log_path, tail=5)) == [line_of(n).decode() for n in range(5, 10)]
    assert texts(jsonfile.read(log_path, tail=50)) == [line_of(n).decode() for n in range(10)]


def test_tail_of_a_large_log(log_path: Path, writer: JsonFileWriter) -> None:
    count = 40_000
    padding = b"p" * 80
    for n in range(count):
        writer.write("stdout" if n % 3 else "stderr", b"%d %s\n" % (n, padding), ns=ns(n / 1000))
    assert log_path.stat().st_size > 4 * 1024 * 1024
    tail = jsonfile.read(log_path, tail=3)
    assert texts(tail) == [f"{n} {padding.decode()}\n" for n in range(count - 3, count)]
    assert [e.stream for e in tail] == ["stdout" if n % 3 else "stderr" for n in range(count - 3, count)]
    # Many blocks back: the lines that straddle block boundaries come out whole.
    many = jsonfile.read(log_path, tail=5000)
    assert texts(many) == [f"{n} {padding.decode()}\n" for n in range(count - 5000, count)]


def test_tail_of_lines_longer_than_a_block(log_path: Path, writer: JsonFileWriter) -> None:
    long_a = "a" * 200_000 + "\n"
    long_b = "b" * 70_000 + "\n"
    writer.write("stdout", b"first\n", ns=ns(0))
    writer.write("stdout", long_a.encode(), ns=ns(1))
    writer.write("stdout", long_b.encode(), ns=ns(2))
    writer.write("stdout", b"last\n", ns=ns(3))
    assert texts(jsonfile.read(log_path, tail=3)) == [long_a, long_b, "last\n"]
    assert texts(jsonfile.read(log_path, tail=4)) == ["first\n", long_a, long_b, "last\n"]


def test_tail_does_not_read_older_files_it_does_not_need(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=3)
    write_lines(w, range(7))  # files: 0-2, 3-5, 6
    w.close()
    older = log_path.with_name("c.log.2")
    older.unlink()
    older.mkdir()  # reading it would fail
    assert texts(jsonfile.read(log_path, tail=4)) == [line_of(n).decode() for n in range(3, 7)]


# -- since / until --------------------------------------------------------------------------


def test_since_and_until_are_inclusive(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(10))  # line n at BASE + n
    assert texts(jsonfile.read(log_path, since=BASE + 7)) == [line_of(n).decode() for n in range(7, 10)]
    assert texts(jsonfile.read(log_path, until=BASE + 2)) == [line_of(n).decode() for n in range(3)]
    assert texts(jsonfile.read(log_path, since=BASE + 3, until=BASE + 5)) == [
        line_of(n).decode() for n in range(3, 6)
    ]
    assert jsonfile.read(log_path, since=BASE + 100) == []
    assert jsonfile.read(log_path, until=BASE - 1) == []


def test_since_with_sub_second_times(log_path: Path, writer: JsonFileWriter) -> None:
    writer.write("stdout", b"a\n", ns=ns(0.25))
    writer.write("stdout", b"b\n", ns=ns(0.5))
    writer.write("stdout", b"c\n", ns=ns(0.75))
    assert texts(jsonfile.read(log_path, since=BASE + 0.4)) == ["b\n", "c\n"]
    assert texts(jsonfile.read(log_path, since=BASE + 0.4, until=BASE + 0.6)) == ["b\n"]


def test_since_across_rotated_files_and_with_tail(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=5)
    write_lines(w, range(12))
    w.close()
    assert texts(jsonfile.read(log_path, since=BASE + 4)) == [line_of(n).decode() for n in range(4, 12)]
    assert texts(jsonfile.read(log_path, since=BASE + 4, tail=3)) == [
        line_of(n).decode() for n in range(9, 12)
    ]
    assert texts(jsonfile.read(log_path, since=BASE + 10, tail=5)) == [
        line_of(n).decode() for n in range(10, 12)
    ]


# -- follow ---------------------------------------------------------------------------------


def test_follow_closes_its_file(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Read to the end of a finished log ...
        entries = list(jsonfile.follow(log_path, lambda: False, start=0))
        # ... and stop early, as `logs --until` does.
        stream = jsonfile.follow(log_path, lambda: True, start=0)
        first = next(stream)
        stream.close()
        gc.collect()
    assert texts(entries) == [line_of(n).decode() for n in range(3)]
    assert first.text == line_of(0).decode()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []


class Follower:
    """Runs jsonfile.follow in a thread and hands over what it yields."""

    def __init__(
        self,
        path: Path,
        start: int,
        still_running: Callable[[], bool] | None = None,
        stat: jsonfile.Stat = os.stat,
    ) -> None:
        self.stopped = threading.Event()
        self.calls = 0
        self.entries: queue.Queue[LogEntry] = queue.Queue()
        self.error: BaseException | None = None
        self.custom = still_running
        self.stat = stat
        self.thread = threading.Thread(target=self._run, args=(path, start), daemon=True)
        self.thread.start()

    def still_running(self) -> bool:
        self.calls += 1
        if self.custom is not None:
            return self.custom()
        return not self.stopped.is_set()

    def _run(self, path: Path, start: int) -> None:
        try:
            for entry in jsonfile.follow(path, self.still_running, start=start, stat=self.stat):
                self.entries.put(entry)
        except BaseException as exc:
            self.error = exc

    def take(self, count: int, timeout: float = 5.0) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                got.append(self.entries.get(timeout=remaining).text)
            except queue.Empty:
                break
        return got

    def finish(self, timeout: float = 5.0) -> list[str]:
        """Say the writer is gone, wait for the follower to end, and return what was left."""
        self.stopped.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "follow did not end after the writer was gone"
        if self.error is not None:
            raise self.error
        rest = []
        while not self.entries.empty():
            rest.append(self.entries.get().text)
        return rest


def test_follow_yields_new_lines_only(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(3))
    follower = Follower(log_path, jsonfile.end_of(log_path))
    write_lines(writer, range(3, 5))
    assert follower.take(2) == [line_of(n).decode() for n in range(3, 5)]
    write_lines(writer, range(5, 6))
    assert follower.take(1) == [line_of(5).decode()]
    assert follower.finish() == []


def test_follow_from_the_start(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(3))
    follower = Follower(log_path, 0)
    assert follower.take(3) == [line_of(n).decode() for n in range(3)]
    assert follower.finish() == []


def test_follow_across_rotations(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 3, max_files=2)
    write_lines(w, range(2))
    follower = Follower(log_path, jsonfile.end_of(log_path))
    try:
        for n in range(2, 14):  # four rotations, one file kept besides the live one
            w.write("stdout", line_of(n), ns=ns(n))
            assert follower.take(1) == [line_of(n).decode()], f"line {n} did not arrive"
    finally:
        w.close()
    assert follower.finish() == []
    assert len(jsonfile.log_files(log_path)) == 2


def test_follow_joins_a_line_written_in_pieces(log_path: Path, writer: JsonFileWriter) -> None:
    follower = Follower(log_path, 0)
    record = b'{"log":"in two pieces\\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}\n'
    with open(log_path, "ab", buffering=0) as f:
        f.write(record[:30])
        time.sleep(0.2)  # let the follower read the first piece
        assert follower.take(1, timeout=0.3) == []
        f.write(record[30:])
    assert follower.take(1) == ["in two pieces\n"]
    assert follower.finish() == []


def test_follow_reads_everything_before_it_ends(log_path: Path, writer: JsonFileWriter) -> None:
    # The writer is already gone: what it wrote is still delivered, then follow ends.
    write_lines(writer, range(5))
    follower = Follower(log_path, 0, still_running=lambda: False)
    follower.thread.join(5)
    assert not follower.thread.is_alive()
    assert follower.finish() == [line_of(n).decode() for n in range(5)]


def test_follow_ends_when_the_writer_is_gone(log_path: Path, writer: JsonFileWriter) -> None:
    follower = Follower(log_path, jsonfile.end_of(log_path))
    write_lines(writer, range(1))
    assert follower.take(1) == [line_of(0).decode()]
    write_lines(writer, range(1, 3))
    rest = follower.take(2) + follower.finish()
    assert rest == [line_of(1).decode(), line_of(2).decode()]


def test_follow_waits_without_busy_polling(log_path: Path, writer: JsonFileWriter) -> None:
    follower = Follower(log_path, jsonfile.end_of(log_path))
    time.sleep(0.1)
    calls_before = follower.calls
    time.sleep(0.8)  # idle: nothing is written
    idle_calls = follower.calls - calls_before
    assert idle_calls <= 2, f"follow checked {idle_calls} times in 0.8s while nothing happened"
    write_lines(writer, range(1))
    assert follower.take(1) == [line_of(0).decode()]  # and it still wakes up for new lines
    assert follower.finish() == []


class _RaceAtStat:
    """The follower's ``stat``: runs ``hook`` just before the first look at a file name,
    i.e. right after the follower found the end of its file."""

    def __init__(self, hook: Callable[[], None]) -> None:
        self.hook: Callable[[], None] | None = hook

    def __call__(self, path: Path) -> os.stat_result:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return os.stat(path)


def test_follow_finishes_the_old_file_when_it_rotates(log_path: Path) -> None:
    # The writer adds a line to the file and rotates between the follower's last read of it
    # and its look at whether the file was rotated: that line must not be lost.
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=3)
    write_lines(w, range(1))

    def writer_runs_ahead() -> None:
        write_lines(w, range(1, 3))  # line 1 fills the old file, line 2 starts a new one

    race = _RaceAtStat(writer_runs_ahead)
    follower = Follower(log_path, jsonfile.end_of(log_path), stat=race)
    try:
        got = follower.take(2, timeout=2)
    finally:
        w.close()
    got += follower.finish()
    assert race.hook is None  # the race did happen
    assert got == [line_of(1).decode(), line_of(2).decode()]


def test_follow_reads_a_new_file_the_writer_left_behind(log_path: Path) -> None:
    # The writer rotates, writes its last line to the new file and exits while the follower
    # asks whether it is still running: that last line must still be delivered.
    w = JsonFileWriter(log_path, max_size=LINE_SIZE + 10, max_files=3)
    write_lines(w, range(1))  # the live file is full

    finished: list[bool] = []

    def writer_finishes() -> bool:
        if not finished:
            write_lines(w, range(1, 2))  # rotates: line 1 is in the new file
            w.close()
            finished.append(True)
        return False

    follower = Follower(log_path, jsonfile.end_of(log_path), still_running=writer_finishes)
    follower.thread.join(5)
    assert follower.finish() == [line_of(1).decode()]


def test_follow_after_a_rotation_since_end_of(log_path: Path) -> None:
    # The log rotates between end_of() and follow() opening it: the new file is shorter than
    # the offset, which must not be applied to it; the rest of the old file is still read.
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=3)
    write_lines(w, range(1))
    start = jsonfile.end_of(log_path)
    write_lines(w, range(1, 3))  # line 1 fills the old file, line 2 starts a new one
    w.close()
    got = texts(list(jsonfile.follow(log_path, lambda: False, start=start)))
    assert got == [line_of(n).decode() for n in range(1, 3)]


def test_follow_after_a_single_file_started_over_since_end_of(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=1)
    write_lines(w, range(2))
    start = jsonfile.end_of(log_path)
    write_lines(w, range(2, 3))  # the one file starts over with line 2
    w.close()
    assert texts(list(jsonfile.follow(log_path, lambda: False, start=start))) == [line_of(2).decode()]


def test_follow_a_single_file_that_starts_over(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=1)
    follower = Follower(log_path, 0)
    try:
        for n in range(7):
            w.write("stdout", line_of(n), ns=ns(n))
            assert follower.take(1) == [line_of(n).decode()], f"line {n} did not arrive"
    finally:
        w.close()
    assert follower.finish() == []


def test_follow_reads_every_file_after_several_rotations(log_path: Path) -> None:
    # The writer rotates three times between two looks of the follower: each file in turn.
    w = JsonFileWriter(log_path, max_size=LINE_SIZE, max_files=5)
    write_lines(w, range(1))

    def writer_runs_ahead() -> None:
        write_lines(w, range(1, 4))  # one line a file

    race = _RaceAtStat(writer_runs_ahead)
    try:
        got = texts(list(jsonfile.follow(log_path, lambda: False, start=0, stat=race)))
    finally:
        w.close()
    assert race.hook is None  # the race did happen
    assert got == [line_of(n).decode() for n in range(4)]


def test_follow_goes_on_when_its_file_was_rotated_away(log_path: Path) -> None:
    # The follower fell so far behind that its file was deleted: it goes on with the oldest
    # file left (what was in the files between is gone).
    w = JsonFileWriter(log_path, max_size=LINE_SIZE, max_files=2)
    write_lines(w, range(1))

    def writer_runs_ahead() -> None:
        write_lines(w, range(1, 4))

    race = _RaceAtStat(writer_runs_ahead)
    try:
        got = texts(list(jsonfile.follow(log_path, lambda: False, start=0, stat=race)))
    finally:
        w.close()
    assert race.hook is None  # the race did happen
    assert got == [line_of(n).decode() for n in (0, 2, 3)]


def test_follow_waits_for_a_log_that_does_not_exist_yet(log_path: Path) -> None:
    follower = Follower(log_path, jsonfile.end_of(log_path))
    time.sleep(0.2)
    assert follower.error is None and follower.thread.is_alive()
    w = JsonFileWriter(log_path, max_size=0)
    try:
        write_lines(w, range(2))
        assert follower.take(2) == [line_of(n).decode() for n in range(2)]
    finally:
        w.close()
    assert follower.finish() == []


def test_follow_of_a_missing_log_ends_when_nothing_writes_it(log_path: Path) -> None:
    assert list(jsonfile.follow(log_path, lambda: False, start=0)) == []


def test_follow_ends_when_the_container_directory_is_gone(tmp_path: Path) -> None:
    gone = tmp_path / "removed" / "c.log"
    assert list(jsonfile.follow(gone, lambda: True, start=0)) == []


def test_follow_sees_a_log_created_as_the_writer_ends(log_path: Path) -> None:
    # The first lines and the end of the writer come between two looks of the follower.
    def writer_runs_and_ends() -> bool:
        w = JsonFileWriter(log_path, max_size=0)
        write_lines(w, range(2))
        w.close()
        return False

    got = texts(list(jsonfile.follow(log_path, writer_runs_and_ends, start=0)))
    assert got == [line_of(n).decode() for n in range(2)]


def test_utc_arithmetic_matches_timegm() -> None:
    for seconds in [0, -1, 951_782_400, 4_107_542_399, -2_208_988_800, BASE, 253_402_300_799]:
        tm = time.gmtime(seconds)
        assert calendar.timegm(tm) == seconds
        assert jsonfile.parse_time(time.strftime("%Y-%m-%dT%H:%M:%SZ", tm)) == seconds


def test_negative_tail_shows_everything(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(4))
    assert texts(jsonfile.read(log_path, tail=-1)) == [line_of(n).decode() for n in range(4)]


@pytest.mark.parametrize("max_files", [1, 2, 3])
@pytest.mark.parametrize("written_after", [0, 1, 2, 3, 5, 9])
def test_read_then_follow_delivers_every_line_once(
    log_path: Path, max_files: int, written_after: int
) -> None:
    # As `logs -f` does: end_of(), read up to it, then follow from it, while the writer goes
    # on and rotates in between: every line still in the log comes once, in order.
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=max_files)
    write_lines(w, range(5))
    end = jsonfile.end_of(log_path)
    write_lines(w, range(5, 5 + written_after))
    w.close()
    got = jsonfile.read(log_path, end=end) + list(jsonfile.follow(log_path, lambda: False, start=end))
    assert texts(got) == texts(jsonfile.read(log_path))


def test_read_stops_in_the_file_end_of_saw_after_a_rotation(log_path: Path) -> None:
    w = JsonFileWriter(log_path, max_size=LINE_SIZE * 2, max_files=3)
    write_lines(w, range(3))  # c.log.1: 0-1, c.log: 2
    end = jsonfile.end_of(log_path)
    write_lines(w, range(3, 5))  # line 3 fills c.log, which becomes c.log.1 when line 4 comes
    w.close()
    assert texts(jsonfile.read(log_path, end=end)) == [line_of(n).decode() for n in range(3)]
    assert texts(jsonfile.read(log_path, end=end, tail=2)) == [line_of(n).decode() for n in range(1, 3)]
    # A plain offset applies to whatever file is live now.
    assert texts(jsonfile.read(log_path, end=int(end))) == [line_of(n).decode() for n in range(5)]
    assert texts(list(jsonfile.follow(log_path, lambda: False, start=end))) == [
        line_of(n).decode() for n in range(3, 5)
    ]


def test_follow_from_a_plain_offset_past_the_end(log_path: Path, writer: JsonFileWriter) -> None:
    write_lines(writer, range(2))
    got = texts(list(jsonfile.follow(log_path, lambda: False, start=LINE_SIZE * 10)))
    assert got == [line_of(n).decode() for n in range(2)]


def test_end_of_is_an_offset_naming_the_file(log_path: Path) -> None:
    assert (jsonfile.end_of(log_path), jsonfile.end_of(log_path).inode) == (0, None)
    writer = JsonFileWriter(log_path)
    write_lines(writer, range(2))
    writer.close()
    end = jsonfile.end_of(log_path)
    assert end == LINE_SIZE * 2
    assert end.inode == log_path.stat().st_ino

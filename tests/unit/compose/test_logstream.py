"""compose.logstream (several containers' logs as one stream) and cli.compose_logs (its printer),
over a fake backend."""

from __future__ import annotations

import io
import threading
import time

from cove.cli.compose_logs import RAINBOW, LogPrinter, print_lines, rfc3339_nano
from cove.compose.logstream import EXIT, LogLine, LogStream, display_name, merged, project_containers
from cove.engine.container_types import Status
from tests.unit.compose.fakes import FakeBackend, container


def line(name: str, text: str, stream: str = "stdout", moment: float = 0.0) -> LogLine:
    return LogLine(name, name.rsplit("-", 1)[0], stream, moment, text)


# -- the printer --------------------------------------------------------------------------------


def test_prefixes_are_padded_to_the_longest_name_and_coloured_in_compose_order() -> None:
    out = io.StringIO()
    print_lines(out, [line("web-1", "a"), line("db-1", "b"), line("worker-1", "c")], color=False,
                names=["web-1", "db-1", "worker-1"])  # fmt: skip
    assert out.getvalue() == "web-1     | a\ndb-1      | b\nworker-1  | c\n"

    out = io.StringIO()
    print_lines(out, [line("web-1", "a"), line("db-1", "b")])
    first, second = out.getvalue().splitlines()
    assert first == "\x1b[36mweb-1  | \x1b[0ma"  # cyan first, then yellow, as Docker Compose
    assert second == "\x1b[33mdb-1   | \x1b[0mb"


def test_the_rotation_has_ten_colours_and_wraps() -> None:
    printer = LogPrinter(io.StringIO())
    colours = [printer.color_of(f"s{i}-1") for i in range(11)]
    assert colours[:10] == list(RAINBOW) and colours[10] == RAINBOW[0]
    assert RAINBOW[5] == "36;1"  # the bright ones follow the five basic ones


def test_width_grows_as_longer_names_come() -> None:
    out = io.StringIO()
    print_lines(out, [line("a-1", "x"), line("longer-1", "y"), line("a-1", "z")], color=False)
    assert out.getvalue().splitlines() == ["a-1  | x", "longer-1  | y", "a-1       | z"]


def test_no_prefix_timestamps_and_exits() -> None:
    out = io.StringIO()
    print_lines(out, [line("web-1", "hi")], prefix=False, color=False)
    assert out.getvalue() == "hi\n"

    out = io.StringIO()
    print_lines(out, [line("web-1", "hi", moment=1767225600.5)], color=False, timestamps=True)
    assert out.getvalue() == "web-1  | 2026-01-01T00:00:00.500000000Z hi\n"

    out = io.StringIO()
    exited = LogLine("web-1", "web", EXIT, 0.0, "exited with code 3", exit_code=3)
    print_lines(out, [line("web-1", "hi"), exited])
    assert out.getvalue().splitlines()[1] == "\x1b[36mweb-1 exited with code 3\x1b[0m"


def test_rfc3339_nano_carries_over_a_rounded_second() -> None:
    assert rfc3339_nano(1767225600.9999999999) == "2026-01-01T00:00:01.000000000Z"


# -- names and selection --------------------------------------------------------------------------


def test_display_name_drops_the_project_but_keeps_a_container_name() -> None:
    assert display_name(container("app", "web", 2)) == "web-2"
    assert display_name(container("app", "web", name="custom")) == "custom"


def test_project_containers_leave_out_one_offs_and_other_services() -> None:
    backend = FakeBackend(
        container("app", "web"),
        container("app", "db"),
        container("app", "web", oneoff=True),
        container("other", "web"),
    )
    assert [c.record.name for c in project_containers(backend, "app")] == ["app-db-1", "app-web-1"]
    assert [c.record.name for c in project_containers(backend, "app", ["web"])] == ["app-web-1"]


# -- without following: merged by time -----------------------------------------------------------


def test_merged_is_in_time_order_across_containers_and_splits_lines() -> None:
    web, db = container("app", "web"), container("app", "db")
    backend = FakeBackend(web, db)
    backend.write(web.record.id, "stdout", 1.0, "w1\n")
    backend.write(web.record.id, "stderr", 3.0, "w3a\nw3b\n")
    backend.write(db.record.id, "stdout", 2.0, "d2\n")
    got = [(entry.name, entry.stream, entry.text) for entry in merged(backend, [web, db])]
    assert got == [
        ("web-1", "stdout", "w1"),
        ("db-1", "stdout", "d2"),
        ("web-1", "stderr", "w3a"),
        ("web-1", "stderr", "w3b"),
    ]


# -- following ------------------------------------------------------------------------------------


def collect(stream: LogStream, into: list[LogLine]) -> threading.Thread:
    def run() -> None:
        for entry in stream:
            into.append(entry)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_follow_interleaves_lines_as_they_come_and_ends_when_all_exited() -> None:
    web, db = container("app", "web"), container("app", "db")
    backend = FakeBackend(web, db)
    got: list[LogLine] = []
    stream = LogStream(backend, [web, db], poll=0.02)
    thread = collect(stream, got)
    backend.write(web.record.id, "stdout", 1.0, "one\n")
    wait_for(lambda: len(got) == 1)
    backend.write(db.record.id, "stdout", 2.0, "two\n")
    wait_for(lambda: len(got) == 2)
    backend.write(web.record.id, "stdout", 3.0, "three\n")
    wait_for(lambda: len(got) == 3)
    assert [g.text for g in got] == ["one", "two", "three"]
    backend.finish(web.record.id, 0)
    wait_for(lambda: any(g.stream == EXIT for g in got))
    assert thread.is_alive()  # db still runs
    backend.finish(db.record.id, 4)
    thread.join(5)
    assert not thread.is_alive()
    exits = sorted((g.name, g.text, g.exit_code) for g in got if g.stream == EXIT)
    assert exits == [("db-1", "exited with code 4", 4), ("web-1", "exited with code 0", 0)]


def test_new_containers_join_while_following() -> None:
    web = container("app", "web")
    backend = FakeBackend(web)
    got: list[LogLine] = []
    stream = LogStream(backend, [web], discover=lambda: project_containers(backend, "app"), poll=0.02)
    thread = collect(stream, got)
    db = container("app", "db")
    backend.add(db)
    backend.write(db.record.id, "stdout", 1.0, "from db\n")
    wait_for(lambda: any(g.text == "from db" for g in got))
    assert next(g for g in got if g.text == "from db").name == "db-1"
    stream.close()
    thread.join(2)
    assert not thread.is_alive()


def test_a_restarted_container_is_read_again_from_its_new_start() -> None:
    web = container("app", "web")
    backend = FakeBackend(web)
    got: list[LogLine] = []
    stream = LogStream(
        backend, [web], discover=lambda: project_containers(backend, "app"), poll=0.02, stop_when_idle=False
    )
    thread = collect(stream, got)
    backend.write(web.record.id, "stdout", 1.0, "first run\n")
    wait_for(lambda: len(got) == 1)
    backend.finish(web.record.id, 1)
    wait_for(lambda: any(g.stream == EXIT for g in got))
    restarted = container("app", "web", started_at="1970-01-01T00:00:02Z", cid=web.record.id)
    backend.add(restarted)
    backend.write(web.record.id, "stdout", 3.0, "second run\n")
    wait_for(lambda: any(g.text == "second run" for g in got))
    assert [g.text for g in got if g.stream != EXIT] == ["first run", "second run"]
    since = [c[1]["since"] for c in backend.calls if c[0] == "logs"]
    assert since == [None, 2.0]
    stream.close()
    thread.join(2)
    assert not thread.is_alive()


def test_close_returns_at_once_with_a_quiet_container_and_a_full_queue() -> None:
    web, db = container("app", "web"), container("app", "db")
    backend = FakeBackend(web, db)
    before = set(threading.enumerate())
    for i in range(50):
        backend.write(web.record.id, "stdout", float(i), f"{i}\n")
    stream = LogStream(backend, [web, db], queue_size=4, poll=0.02)
    first = next(iter(stream))
    assert first.text == "0"
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 0.5
    readers = [t for t in set(threading.enumerate()) - before if t.name.startswith("compose-logs-")]
    deadline = time.monotonic() + 2
    while any(t.is_alive() and t.name.endswith(web.record.id[:12]) for t in readers):
        assert time.monotonic() < deadline, "the reader of a closed stream blocked on its full queue"
        time.sleep(0.01)
    backend.finish(db.record.id)  # the quiet one's reader ends with its container


def test_follow_of_no_container_ends() -> None:
    stream = LogStream(FakeBackend(), [], poll=0.01)
    assert list(stream) == []


def test_exited_container_gets_no_exit_line_when_the_stream_was_closed() -> None:
    web = container("app", "web", status=Status.RUNNING)
    backend = FakeBackend(web)
    stream = LogStream(backend, [web], poll=0.01)
    stream.start()
    stream.close()
    backend.finish(web.record.id)
    assert list(stream) == []


def test_a_container_that_ran_and_ended_between_two_looks_is_read_with_its_exit() -> None:
    web = container("app", "web")
    backend = FakeBackend(web)
    got: list[LogLine] = []
    stream = LogStream(backend, [web], discover=lambda: project_containers(backend, "app"), poll=0.05)
    thread = collect(stream, got)
    quick = container("app", "job", status=Status.EXITED, exit_code=2)
    backend.add(quick)
    backend.write(quick.record.id, "stdout", 1.0, "done quickly\n")
    wait_for(lambda: any(g.name == "job-1" and g.stream == EXIT for g in got))
    assert [g.text for g in got if g.name == "job-1"] == ["done quickly", "exited with code 2"]
    stream.close()
    thread.join(2)
    backend.finish(web.record.id)


def test_containers_stopped_before_the_stream_get_no_exit_line() -> None:
    old = container("app", "old", status=Status.EXITED, exit_code=1)
    backend = FakeBackend(old)
    backend.write(old.record.id, "stdout", 1.0, "from before\n")
    got = list(LogStream(backend, [old], poll=0.01))
    assert [(g.stream, g.text) for g in got] == [("stdout", "from before")]


def test_merged_skips_a_container_removed_meanwhile() -> None:
    web, gone = container("app", "web"), container("app", "gone")
    backend = FakeBackend(web)
    backend.write(web.record.id, "stdout", 1.0, "still here\n")
    backend.lines[gone.record.id] = []
    assert [g.text for g in merged(backend, [gone, web])] == ["still here"]

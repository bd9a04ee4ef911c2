"""The one typed container state: its transitions' rules, its record, and the reader's view."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.containers import state as s
from cove.containers.state import (
    ContainerState,
    Health,
    HealthResult,
    HealthStatus,
    InvalidTransition,
    Status,
)
from cove.db.database import Database
from cove.db.schema import MIGRATIONS

AT = "2026-01-02T03:04:05.5Z"
LATER = "2026-01-02T03:05:00Z"


def running(**changes: object) -> ContainerState:
    return dataclasses.replace(ContainerState().started(100, 7, AT), **changes)  # type: ignore[arg-type]


# -- the rules ------------------------------------------------------------------------------

RULES = {
    # status: (start, kill, stop, pause, unpause, exec, delete)
    Status.CREATED: (True, False, False, False, False, False, True),
    Status.RUNNING: (False, True, True, True, False, True, False),
    Status.PAUSED: (False, True, True, False, True, False, False),
    Status.RESTARTING: (True, False, True, False, False, False, False),
    Status.REMOVING: (False, False, False, False, False, False, True),
    Status.EXITED: (True, False, False, False, False, False, True),
    Status.DEAD: (True, False, False, False, False, False, True),
}


@pytest.mark.parametrize("status", list(Status))
def test_each_status_allows_what_docker_allows(status: Status) -> None:
    st = ContainerState(status=status)
    got = (
        st.can_start(),
        st.can_kill(),
        st.can_stop(),
        st.can_pause(),
        st.can_unpause(),
        st.can_exec(),
        st.can_delete(),
    )
    assert got == RULES[status]


def test_every_status_has_its_rules() -> None:
    assert set(RULES) == set(Status)


def test_running_is_docker_state_running() -> None:
    assert {st for st in Status if ContainerState(status=st).running} == {
        Status.RUNNING,
        Status.PAUSED,
        Status.RESTARTING,
    }


def test_a_start_records_the_init_and_clears_the_last_run() -> None:
    before = ContainerState(
        status=Status.EXITED, exit_code=3, error="boom", oom_killed=True, manual_stop=True
    )
    after = before.started(42, 99, AT)
    assert (after.status, after.pid, after.pid_start, after.started_at) == (Status.RUNNING, 42, 99, AT)
    assert (after.exit_code, after.error, after.oom_killed, after.manual_stop) == (0, "", False, False)


@pytest.mark.parametrize("status", [Status.RUNNING, Status.PAUSED, Status.REMOVING])
def test_a_live_container_cannot_be_started_again(status: Status) -> None:
    with pytest.raises(InvalidTransition):
        ContainerState(status=status).started(1, 1, AT)


def test_pause_and_unpause() -> None:
    paused = running().paused("c1")
    assert paused.status == Status.PAUSED and paused.running and paused.pid == 100
    assert paused.unpaused("c1").status == Status.RUNNING


def test_pausing_twice_or_a_stopped_container_is_refused_with_docker_words() -> None:
    with pytest.raises(InvalidTransition, match="container c1 is already paused"):
        running().paused("c1").paused("c1")
    with pytest.raises(InvalidTransition, match="container c1 is not running"):
        ContainerState(status=Status.EXITED).paused("c1")
    with pytest.raises(InvalidTransition, match="container c1 is not paused"):
        running().unpaused("c1")


def test_an_exit_records_code_time_and_cause() -> None:
    ended = running().exited(137, LATER, oom_killed=True, manual_stop=True, restarting=False)
    assert (ended.status, ended.exit_code, ended.finished_at, ended.pid) == (Status.EXITED, 137, LATER, 0)
    assert ended.oom_killed and ended.manual_stop and not ended.running


def test_a_paused_container_can_exit() -> None:
    # (SIGKILL reaches a frozen cgroup's tasks)
    assert running().paused("c").exited(
        137, LATER, oom_killed=False, manual_stop=True, restarting=False
    ).status == (Status.EXITED)


def test_an_exit_before_a_restart_is_restarting_never_exited() -> None:
    st = running().exited(1, LATER, oom_killed=False, manual_stop=False, restarting=True)
    assert st.status == Status.RESTARTING and st.running and st.exit_code == 1
    again = st.restart_counted().started(101, 8, LATER)
    assert (again.status, again.restart_count) == (Status.RUNNING, 1)


@pytest.mark.parametrize("status", [Status.CREATED, Status.EXITED, Status.RESTARTING])
def test_only_a_live_init_can_exit(status: Status) -> None:
    with pytest.raises(InvalidTransition):
        ContainerState(status=status).exited(0, LATER, oom_killed=False, manual_stop=False, restarting=False)


def test_a_stop_during_the_back_off_ends_it() -> None:
    st = running().exited(1, LATER, oom_killed=False, manual_stop=False, restarting=True).restart_given_up()
    assert (st.status, st.manual_stop, st.exit_code) == (Status.EXITED, True, 1)


def test_a_failed_first_start_stays_created_a_failed_restart_is_exited() -> None:
    first = ContainerState().start_failed("no such file", first=True, exit_code=127)
    assert (first.status, first.exit_code, first.error) == (Status.CREATED, 127, "no such file")
    later = running().exited(1, LATER, oom_killed=False, manual_stop=False, restarting=True)
    assert later.start_failed("gone", first=False).status == Status.EXITED


def test_a_new_monitor_takes_an_unended_run_as_ended_unseen() -> None:
    st = running().orphaned()
    assert (st.status, st.exit_code, st.pid, st.error) == (Status.EXITED, None, 0, s.MONITOR_LOST)
    assert st.reported_exit_code == -1
    assert st.can_start()
    done = ContainerState(status=Status.EXITED, exit_code=3)
    assert done.orphaned() == done


def test_reported_error_adds_what_the_log_lost() -> None:
    drops = s.LogDrops(3, 120, "No space left on device")
    st = ContainerState(error="boom", log_drops=drops)
    assert (
        st.reported_error
        == "boom; 3 lines of output (120 bytes) could not be logged: No space left on device"
    )
    assert ContainerState(log_drops=drops).reported_error.startswith("3 lines")
    assert ContainerState(error="boom").reported_error == "boom"


# -- the record --------------------------------------------------------------------------------


def test_the_record_round_trips() -> None:
    health = Health(HealthStatus.UNHEALTHY, 3, (HealthResult(AT, LATER, 1, "no"),))
    st = dataclasses.replace(
        running().exited(2, LATER, oom_killed=True, manual_stop=False, restarting=False),
        restart_count=4,
        health=health,
        monitor_pid=55,
        last_monitor_pid=54,
        log_drops=s.LogDrops(1, 2, "full"),
    )
    assert ContainerState.from_json(json.loads(json.dumps(st.to_json()))) == st


def test_supervised_is_the_readers_finding_never_recorded() -> None:
    assert "supervised" not in ContainerState(supervised=True).to_json()


def test_an_old_record_reads_as_it_was_written() -> None:
    # What the monitor of an earlier cove wrote (the same keys).
    old = {
        "status": "exited",
        "pid": 0,
        "pid_start": 123,
        "exit_code": 3,
        "started_at": AT,
        "finished_at": LATER,
        "health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
        "monitor_pid": 0,
        "last_monitor_pid": 77,
    }
    st = ContainerState.from_json(old)
    assert (st.status, st.exit_code, st.finished_at, st.last_monitor_pid) == (Status.EXITED, 3, LATER, 77)
    assert st.health == Health(HealthStatus.HEALTHY, 0, ())


@pytest.mark.parametrize(
    ("record", "field", "expected"),
    [
        ({"status": "sleeping"}, "status", Status.DEAD),  # not a status cove writes
        ({"status": 3}, "status", Status.DEAD),
        ({}, "status", Status.CREATED),
        ({"status": "exited", "exit_code": "3"}, "exit_code", None),
        ({"status": "exited", "exit_code": True}, "exit_code", None),
        ({"status": "exited", "exit_code": None}, "exit_code", None),
        ({"status": "running", "pid": "12"}, "pid", 0),
        ({"status": "running", "pid": -5}, "pid", 0),
        ({"status": "running", "restart_count": 1.5}, "restart_count", 0),
        ({"status": "running", "oom_killed": "yes"}, "oom_killed", False),
        ({"status": "running", "error": ["x"]}, "error", ""),
        ({"status": "running", "health": {"Status": "great"}}, "health", None),
        ({"status": "running", "health": "healthy"}, "health", None),
    ],
)
def test_a_field_of_the_wrong_type_reads_as_its_default(
    record: dict[str, object], field: str, expected: object
) -> None:
    assert getattr(ContainerState.from_json(record), field) == expected


def test_long_texts_are_bounded() -> None:
    st = ContainerState.from_json({"status": "exited", "error": "e" * (1 << 20)})
    assert len(st.error) == s.MAX_TEXT


def test_a_health_log_keeps_its_last_entries_only() -> None:
    entries = [{"Start": str(n), "End": "", "ExitCode": 0, "Output": "x" * 10_000} for n in range(20)]
    health = Health.from_json({"Status": "healthy", "FailingStreak": 0, "Log": entries})
    assert health is not None
    assert [r.start for r in health.log] == [str(n) for n in range(15, 20)]
    assert all(len(r.output) == s.HEALTH_OUTPUT_MAX for r in health.log)


def test_read_record_refuses_an_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"status": "running", "pad": "x" * s.MAX_RECORD}))
    assert s.read_record(path) == {}


# -- the reader --------------------------------------------------------------------------------


class Processes:
    """A recording stand-in for the host's process table."""

    def __init__(self, alive: dict[int, int]) -> None:
        self.table = alive  # pid -> start time
        self.asked: list[int] = []

    def alive(self, pid: int) -> bool:
        self.asked.append(pid)
        return pid in self.table

    def start_time(self, pid: int) -> int | None:
        return self.table.get(pid)


def _write(directory: Path, st: ContainerState) -> Path:
    s.write_state(directory / s.STATE_FILE, st)
    return directory


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[None]:
    """A live monitor: its lock is held (by this process, through another descriptor)."""
    fd = os.open(tmp_path / s.MONITOR_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def test_no_record_is_a_created_container(tmp_path: Path) -> None:
    st = s.read_state(tmp_path, Processes({}))
    assert (st.status, st.supervised) == (Status.CREATED, False)


def test_a_live_monitors_record_is_the_truth(tmp_path: Path, held_lock: None) -> None:
    host = Processes({})
    st = s.read_state(_write(tmp_path, running().paused("c")), host)
    assert (st.status, st.supervised, st.pid) == (Status.PAUSED, True, 100)
    assert host.asked == []  # no look at processes while the monitor lives


def test_a_dead_monitors_running_record_with_its_init_alive_runs_unsupervised(tmp_path: Path) -> None:
    (tmp_path / s.MONITOR_LOCK).touch()  # (free: nobody holds it)
    st = s.read_state(_write(tmp_path, running()), Processes({100: 7}))
    assert (st.status, st.supervised, st.pid, st.error) == (Status.RUNNING, False, 100, s.RUNS_UNSUPERVISED)


def test_a_reused_pid_is_not_the_init(tmp_path: Path) -> None:
    st = s.read_state(_write(tmp_path, running()), Processes({100: 8}))  # another start time
    assert (st.status, st.exit_code, st.pid, st.error) == (Status.EXITED, None, 0, s.MONITOR_LOST)


@pytest.mark.parametrize("status", [Status.PAUSED, Status.RESTARTING])
def test_a_dead_monitors_live_record_without_init_is_an_unknown_exit(tmp_path: Path, status: Status) -> None:
    st = s.read_state(_write(tmp_path, running(status=status)), Processes({}))
    assert (st.status, st.exit_code, st.reported_exit_code, st.running) == (Status.EXITED, None, -1, False)


def test_an_ended_record_needs_no_look_at_processes(tmp_path: Path) -> None:
    host = Processes({})
    ended = running().exited(3, LATER, oom_killed=False, manual_stop=False, restarting=False)
    st = s.read_state(_write(tmp_path, ended), host)
    assert (st.status, st.exit_code) == (Status.EXITED, 3)
    assert host.asked == []


def test_monitor_alive_leaves_no_lock_file_behind(tmp_path: Path) -> None:
    assert not s.monitor_alive(tmp_path)
    assert not (tmp_path / s.MONITOR_LOCK).exists()


# -- the column that went ------------------------------------------------------------------------


def test_an_old_store_opens_and_loses_the_state_column(tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 6")
    conn.execute(
        "INSERT INTO containers(id, name, image_id, image_ref, snapshot_key, state, created, config, "
        "runtime) VALUES ('c1', 'old', 'sha256:x', 'busybox', 'container-c1', 'running', 1.0, '{}', '')"
    )
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        columns = {r["name"] for r in db.query("PRAGMA table_info(containers)")}
        assert "state" not in columns
        assert [r["name"] for r in db.query("SELECT name FROM containers")] == ["old"]
        assert db.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    finally:
        db.close()

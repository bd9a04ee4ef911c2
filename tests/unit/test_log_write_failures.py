"""A log or a state record that cannot be written: lines are dropped whole and counted, the
writer tries again, and an exit record falls back on its spare.

The file size limit (RLIMIT_FSIZE, in a child process) stands in for a full disk: the kernel
then does what it does on one, a short write at the limit and errors after it.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cove.containers import state as state_file
from cove.logs import jsonfile
from cove.logs.jsonfile import JsonFileWriter

LIMIT = 10_000


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a fork (its limits stay there); its result, or its traceback."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG rather than death at the limit
            out = json.dumps(work())
        except BaseException:
            out = json.dumps({"traceback": traceback.format_exc()})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(data)
    assert "traceback" not in result, result["traceback"]
    return result


def limit_file_size(size: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))


def test_lines_that_do_not_fit_are_dropped_whole_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.log"

    def work() -> dict[str, Any]:
        w = JsonFileWriter(path, max_size=0, retry_interval=0)
        limit_file_size(LIMIT)
        for n in range(300):
            w.write("stdout", b"line %04d of the container's output\n" % n)
        full = (w.dropped_lines, w.dropped_bytes, w.error, path.stat().st_size)
        limit_file_size(resource.RLIM_INFINITY)  # room again
        w.write("stdout", b"after\n")
        w.close()
        return {"full": full, "dropped": w.dropped_lines}

    result = in_child(work)
    dropped, dropped_bytes, error, size = result["full"]
    assert 0 < dropped < 300 and error == os.strerror(errno.EFBIG)
    assert size <= LIMIT
    assert result["dropped"] == dropped  # the line after the limit went in
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and all(json.loads(line) for line in raw.splitlines())  # no half record
    entries = jsonfile.read(path)
    kept = [e.text for e in entries if e.stream == "stdout"]
    assert len(kept) == 300 - dropped + 1
    assert kept[-1] == "after\n"
    assert kept[:-1] == [f"line {n:04d} of the container's output\n" for n in range(300 - dropped)]
    (note,) = [e for e in entries if e.stream == "stderr"]
    assert note.text == f"[cove] {dropped} lines ({dropped_bytes} bytes) of output were not logged: {error}\n"
    assert entries[-2] == note  # just before the first line that went in again


def test_no_retry_before_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "c.log"

    def work() -> dict[str, Any]:
        w = JsonFileWriter(path, max_size=0, retry_interval=3600)
        limit_file_size(200)
        for n in range(5):
            w.write("stdout", b"line %d of the container's output\n" % n)
        size = path.stat().st_size
        limit_file_size(resource.RLIM_INFINITY)
        w.write("stdout", b"not tried: too soon\n")
        return {"dropped": w.dropped_lines, "grew": path.stat().st_size - size}

    result = in_child(work)
    assert result["grew"] == 0
    assert result["dropped"] >= 2


def test_a_log_that_cannot_be_opened_drops_lines_until_it_can(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "c.log"
    w = JsonFileWriter(path, max_size=0, retry_interval=0)
    w.write("stdout", b"lost\n")
    assert (w.dropped_lines, w.error) == (1, os.strerror(errno.ENOENT))
    path.parent.mkdir()
    w.write("stdout", b"kept\n")
    w.close()
    assert [(e.stream, e.text) for e in jsonfile.read(path)] == [
        ("stderr", f"[cove] 1 lines ({w.dropped_bytes} bytes) of output were not logged: {w.error}\n"),
        ("stdout", "kept\n"),
    ]


def test_rotation_keeps_working_around_failures(tmp_path: Path) -> None:
    path = tmp_path / "c.log"

    def work() -> dict[str, Any]:
        w = JsonFileWriter(path, max_size=1000, max_files=3, retry_interval=0)
        for n in range(20):
            w.write("stdout", b"before %02d\n" % n)
        limit_file_size(300)  # each new file may hold a little
        for n in range(40):
            w.write("stdout", b"during %02d\n" % n)
        limit_file_size(resource.RLIM_INFINITY)
        for n in range(20):
            w.write("stdout", b"after %02d\n" % n)
        w.close()
        return {"dropped": w.dropped_lines}

    result = in_child(work)
    assert result["dropped"] > 0
    for file in jsonfile.log_files(path):
        assert all(json.loads(line) for line in file.read_bytes().splitlines())
    texts = [e.text for e in jsonfile.read(path)]
    assert texts[-1] == "after 19\n"


# -- the state record's spare ------------------------------------------------------------


def test_a_spare_is_reserved_beside_the_record(tmp_path: Path) -> None:
    record = tmp_path / "state.json"
    assert state_file.reserve_spare(record)
    spare = tmp_path / "state.json.spare"
    assert spare.stat().st_size == state_file.SPARE_SIZE
    assert spare.stat().st_blocks * 512 >= state_file.SPARE_SIZE  # allocated, not sparse
    assert state_file.reserve_spare(record)  # already there


def test_a_vital_record_uses_the_spare_when_the_disk_is_full(tmp_path: Path) -> None:
    record = tmp_path / "state.json"
    state_file.reserve_spare(record)
    calls: list[bool] = []

    def full_until_the_spare_goes(path: Path, data: bytes) -> None:
        calls.append((tmp_path / "state.json.spare").exists())
        if calls[-1]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        state_file.replace_file(path, data)

    with pytest.raises(OSError, match="No space"):  # not vital: the spare stays
        state_file.write_record(record, {"status": "exited"}, replace=full_until_the_spare_goes)
    assert calls == [True]
    state_file.write_record(
        record, {"status": "exited", "exit_code": 7}, spare=True, replace=full_until_the_spare_goes
    )
    assert calls == [True, True, False]
    assert state_file.read_record(record) == {"status": "exited", "exit_code": 7}

    def always_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError, match="No space"):  # no spare left to give: the caller keeps it
        state_file.write_record(record, {"status": "exited"}, spare=True, replace=always_full)


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    record = tmp_path / "state.json"

    def work() -> dict[str, Any]:
        limit_file_size(10)
        try:
            state_file.write_record(record, {"status": "exited", "padding": "x" * 100})
        except OSError as exc:
            return {"errno": exc.errno, "files": sorted(p.name for p in tmp_path.iterdir())}
        return {"errno": 0}

    assert in_child(work) == {"errno": errno.EFBIG, "files": []}

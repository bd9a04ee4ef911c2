"""The guard (cove.host.guard): what its owner armed is undone when the owner dies, not before,
and not what the owner disarmed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from cove.host import guard
from cove.host.guard import Guard, Remove, RunProgram


def _until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_serve_undoes_what_is_still_armed_newest_first(tmp_path: Path) -> None:
    order = tmp_path / "order"
    kept = tmp_path / "kept"
    gone = tmp_path / "gone"
    kept.mkdir()
    gone.mkdir()
    r, w = os.pipe()
    messages = [
        {"arm": 1, "actions": [["run", ["sh", "-c", f"echo first >> {order}"]], ["remove", str(gone)]]},
        {"arm": 2, "actions": [["remove", str(kept)]]},
        {"arm": 3, "actions": [["run", ["sh", "-c", f"echo second >> {order}"]]]},
        {"disarm": 2},
    ]
    os.write(w, b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    os.write(w, b"not a message\n" + b'{"arm": "x"}\n' + b'{"arm": 4, "actions": [["format", "/"]]}\n')
    os.close(w)
    try:
        assert guard.serve(r) == 0
    finally:
        os.close(r)
    assert order.read_text() == "second\nfirst\n"
    assert kept.is_dir() and not gone.exists()


def _owner(tmp_path: Path, *, die: bool) -> None:
    """In a child: arm, disarm one, and die by SIGKILL (or end normally)."""
    pid = os.fork()
    if pid == 0:
        try:
            g = Guard()
            g.arm([Remove(str(tmp_path / "work")), RunProgram(("touch", str(tmp_path / "undone")))])
            token = g.arm([RunProgram(("touch", str(tmp_path / "disarmed")))])
            g.disarm(token)
            if die:
                os.kill(os.getpid(), signal.SIGKILL)
            g.disarm(1)
            g.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_an_owner_killed_with_sigkill_is_cleaned_up_after(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    _owner(tmp_path, die=True)
    assert _until(lambda: (tmp_path / "undone").exists() and not (tmp_path / "work").exists())
    time.sleep(0.2)
    assert not (tmp_path / "disarmed").exists()


def test_an_owner_that_ends_normally_leaves_everything(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    _owner(tmp_path, die=False)
    time.sleep(0.5)  # (time for a guard that would wrongly act)
    assert (tmp_path / "work").is_dir()
    assert not (tmp_path / "undone").exists() and not (tmp_path / "disarmed").exists()


def test_a_guard_that_cannot_start_arms_nothing(tmp_path: Path) -> None:
    g = Guard(python=str(tmp_path / "no-python"))
    assert g.arm([Remove(str(tmp_path))]) == 1  # no error: the store's tidy-up is what remains
    g.disarm(1)
    g.close()
    assert tmp_path.is_dir()

"""One container state, asked the same way by everyone: `cove info`, `cove system df`, `ps` and
its filters, and rmi's in-use check agree with `cove ps -a` for containers that run, exited,
are paused, were stopped and were only created."""

from __future__ import annotations

import json
import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until

UNITS = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def size(text: str) -> float:
    """Bytes from a humanized size ("300kB", "1.2MB (40%)")."""
    match = re.match(r"([\d.]+)\s*([kMG]?B)", text)
    assert match, text
    return float(match.group(1)) * UNITS[match.group(2)]


def states(cove: CoveRunner) -> Counter[str]:
    rows = cove("ps", "-a", "--format", "{{.Names}} {{.State}}").out.splitlines()
    return Counter(row.split()[1] for row in rows)


def info(cove: CoveRunner) -> dict[str, int]:
    data = json.loads(cove("info", "--format", "json").out)
    return {k: data[k] for k in ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped")}


def df_containers(cove: CoveRunner) -> dict[str, str]:
    rows = [json.loads(line) for line in cove("system", "df", "--format", "json").out.splitlines()]
    (row,) = [r for r in rows if r["Type"] == "Containers"]
    return row  # type: ignore[no-any-return]


WRITE = "head -c {n} /dev/zero > /written; "


@pytest.mark.slow
def test_info_df_filters_and_rmi_agree_with_ps(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    sleep = WRITE.format(n=200_000) + "exec sleep 300"
    cove("run", "-d", "--name", "up", "busybox", "sh", "-c", sleep)
    cove("run", "-d", "--name", "frozen", "busybox", "sh", "-c", sleep)
    cove("pause", "frozen")
    exited = cove(
        "run", "--name", "three", "busybox", "sh", "-c", WRITE.format(n=300_000) + "exit 3", check=False
    )
    assert exited.rc == 3
    cove("run", "-d", "--name", "halted", "busybox", "sh", "-c", WRITE.format(n=100_000) + "exec sleep 300")
    cove("stop", "-t", "0", "halted")
    cove("create", "--name", "made", "busybox", "true")

    assert states(cove) == Counter({"running": 1, "paused": 1, "exited": 2, "created": 1})
    assert info(cove) == {
        "Containers": 5,
        "ContainersRunning": 1,
        "ContainersPaused": 1,
        "ContainersStopped": 3,
    }
    text = cove("info").out
    assert "  Running: 1\n" in text and "  Paused: 1\n" in text and "  Stopped: 3\n" in text

    df = df_containers(cove)
    assert (df["TotalCount"], df["Active"]) == ("5", "2")  # running and paused are active
    reclaimable, total = size(df["Reclaimable"]), size(df["Size"])
    assert reclaimable >= 400_000  # what the stopped ones wrote
    assert total - reclaimable >= 400_000  # what the live ones wrote is not reclaimable

    for status, names in {
        "running": ["up"],
        "paused": ["frozen"],
        "exited": ["halted", "three"],
        "created": ["made"],
    }.items():
        listed = cove("ps", "-a", "--filter", f"status={status}", "--format", "{{.Names}}").out.split()
        assert sorted(listed) == names, status
    assert cove("ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}").out.split() == ["three"]
    assert sorted(cove("ps", "--format", "{{.Names}}").out.split()) == ["frozen", "up"]  # (not -a)
    assert json.loads(cove("inspect", "--format", "{{json .State}}", "frozen").out)["Paused"] is True

    # rmi sees the live containers as running ones (not even -f removes their image), the
    # others as stopped ones.
    image = cove("images", "-q").out.split()[0]
    refused = cove("rmi", "-f", "busybox", check=False)
    assert refused.rc != 0 and "being used by running container" in refused.err
    cove("unpause", "frozen")
    cove("stop", "-t", "0", "up")
    refused = cove("rmi", "-f", "busybox", check=False)  # frozen still runs
    assert refused.rc != 0 and "being used by running container" in refused.err
    cove("rm", "-f", "frozen")
    assert info(cove)["ContainersRunning"] == 0 and df_containers(cove)["Active"] == "0"
    refused = cove("rmi", image, check=False)
    assert refused.rc != 0 and "being used by stopped container" in refused.err


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    )


@pytest.mark.slow
def test_the_dns_server_asks_the_same_reader(cove_busybox: CoveRunner) -> None:
    # A container whose monitor and then init were killed: its record still says running (no
    # one was left to write an end), and everyone must see through it alike: ps, info, and the
    # network's DNS server, which answered its name on main.
    cove = cove_busybox
    cove("network", "create", "lost")
    try:
        cid = cove("run", "-d", "--name", "gone", "--network", "lost", "busybox", "sleep", "300").out.strip()
        lookup = ("run", "--rm", "--network", "lost", "busybox", "nslookup", "gone")
        assert b"Address: " in cove.proc(*lookup).stdout
        record = json.loads((cove.root / "containers" / cid / "state.json").read_text())
        _kill(int(record["monitor_pid"]))
        _kill(int(record["pid"]))
        assert json.loads((cove.root / "containers" / cid / "state.json").read_text())["status"] == "running"
        assert states(cove) == Counter({"exited": 1})
        assert info(cove)["ContainersStopped"] == 1
        assert df_containers(cove)["Active"] == "0"
        assert cove.proc(*lookup, check=False).returncode != 0  # its name no longer resolves
    finally:
        cove("rm", "-f", "gone", check=False)
        cove("network", "rm", "lost", check=False)

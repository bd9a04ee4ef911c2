"""A stats reading that could not be taken is unknown (None), never zero; the CLI shows '--'."""

from __future__ import annotations

from types import SimpleNamespace

from cove.cli.commands.container_io import _stats_rows
from cove.engine.container_io.stats import reading
from cove.errors import Unavailable

GIB = 1 << 30

SAMPLE = {
    "cpu": {"usage": {"total": 1_000_000}},
    "memory": {"usage": {"usage": 10 << 20, "limit": 0}, "stats": {"inactive_file": 2 << 20}},
    "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 8192}]},
    "pids": {"current": 3},
}


def _later(cpu_total: int) -> dict[str, object]:
    return {**SAMPLE, "cpu": {"usage": {"total": cpu_total}}}


def test_a_full_reading() -> None:
    s = reading(
        "c1", "web", SAMPLE, _later(1_500_000), system_delta=10_000_000, cpus=2, host_memory=GIB, net=(5, 7)
    )
    assert s.cpu_percent == 10.0  # 0.5 ms of 10 ms, on two CPUs
    assert (s.memory_usage, s.memory_limit) == (8 << 20, GIB)  # no limit: the host's memory
    assert (s.block_read, s.block_write, s.pids, s.net_rx, s.net_tx) == (4096, 8192, 3, 5, 7)
    assert s.error == ""


def test_a_failed_sample_leaves_the_runtimes_readings_unknown() -> None:
    gone = Unavailable("container c1 is not running")
    s = reading("c1", "web", SAMPLE, gone, system_delta=10, cpus=1, host_memory=GIB, net=None)
    assert (s.cpu_percent, s.memory_usage, s.memory_limit, s.block_read, s.pids) == (None,) * 5
    assert (s.net_rx, s.net_tx) == (None, None)
    assert "not running" in s.error


def test_missing_sections_are_unknown_not_zero() -> None:
    s = reading("c1", "web", {}, {}, system_delta=10, cpus=1, host_memory=GIB, net=(0, 0))
    assert (s.cpu_percent, s.memory_usage, s.block_read, s.pids) == (None, None, None, None)
    assert (s.net_rx, s.net_tx) == (0, 0)  # this one was read: nothing sent


def test_the_cli_shows_unknown_readings_as_docker_does() -> None:
    unknown = reading(
        "c" * 64, "web", {}, Unavailable("gone"), system_delta=1, cpus=1, host_memory=GIB, net=None
    )
    engine = SimpleNamespace(container_io=SimpleNamespace(stats=lambda refs: [unknown]))
    cli = SimpleNamespace(engine=lambda: engine)
    [row] = _stats_rows(cli, [])  # type: ignore[arg-type]
    assert row["CPUPerc"] == row["MemPerc"] == row["NetIO"] == row["BlockIO"] == row["PIDs"] == "--"
    assert row["MemUsage"] == "-- / --" and row["Name"] == "web"

"""The health check state machine, as Docker's daemon/health.go runs it.

Times are explicit monotonic seconds: nothing here sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from cove.monitor import health as h
from cove.monitor.config import ProbeConfig
from cove.monitor.health import HealthChecker

T0 = 1000.0  # when the container started (monotonic seconds)


def make(config: dict[str, Any]) -> HealthChecker:
    """A checker for a health config as the monitor's configuration holds it."""
    return HealthChecker(ProbeConfig(**{**config, "test": config.get("test") or []}))


def checker(**config: Any) -> HealthChecker:
    config.setdefault("test", ["CMD", "true"])
    hc = make(config)
    hc.container_started(T0)
    return hc


def probe(hc: HealthChecker, at: float, exit_code: int, output: str = "") -> None:
    hc.record(f"start@{at}", f"end@{at}", exit_code, output, now=at)


def ok(hc: HealthChecker, at: float) -> None:
    probe(hc, at, 0, "fine\n")


def fail(hc: HealthChecker, at: float, exit_code: int = 1) -> None:
    probe(hc, at, exit_code, "broken\n")


# -- which command runs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "argv"),
    [
        (["CMD", "curl", "-f", "http://localhost/"], ["curl", "-f", "http://localhost/"]),
        (["CMD", "a b", ""], ["a b", ""]),
        (["CMD-SHELL", "curl -f localhost || exit 1"], ["/bin/sh", "-c", "curl -f localhost || exit 1"]),
        (["CMD-SHELL", "a", "b"], ["/bin/sh", "-c", "a b"]),
    ],
)  # fmt: skip
def test_probe_command(test: list[str], argv: list[str]) -> None:
    assert h.probe_command(test) == argv
    hc = make({"test": test})
    assert hc.enabled
    assert hc.command == argv


@pytest.mark.parametrize(
    "config",
    [
        {"test": ["NONE"]},  # --no-healthcheck, HEALTHCHECK NONE
        {"test": ["NONE", "ignored"]},
        {"test": []},
        {"test": None},
        {},
        {"test": ["CMD"]},  # nothing to run
    ],
)
def test_disabled_configs(config: dict[str, Any]) -> None:
    hc = make(config)
    assert not hc.enabled
    assert hc.command is None


def test_probe_command_does_not_alias_the_config() -> None:
    test = ["CMD", "true"]
    hc = make({"test": test})
    assert hc.command is not None
    hc.command.append("mutated")
    assert test == ["CMD", "true"]


# -- defaults ------------------------------------------------------------------------------


def test_docker_defaults() -> None:
    hc = make({"test": ["CMD", "true"]})
    assert hc.interval == 30.0
    assert hc.timeout == 30.0
    assert hc.retries == 3
    assert hc.start_period == 0.0
    assert hc.start_interval == 5.0


def test_zero_means_default_as_in_docker() -> None:
    hc = make(
        {
            "test": ["CMD", "true"],
            "interval": 0,
            "timeout": 0,
            "retries": 0,
            "start_period": 0,
            "start_interval": 0,
        }
    )
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period, hc.start_interval) == (
        30.0,
        30.0,
        3,
        0.0,
        5.0,
    )


def test_configured_values() -> None:
    hc = make(
        {
            "test": ["CMD", "true"],
            "interval": 2.5,
            "timeout": 1,
            "retries": 7,
            "start_period": 40,
            "start_interval": 0.5,
        }
    )
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period, hc.start_interval) == (
        2.5,
        1.0,
        7,
        40.0,
        0.5,
    )


# -- status --------------------------------------------------------------------------------


def test_a_new_container_is_starting() -> None:
    hc = checker()
    assert hc.status == h.STARTING
    assert hc.snapshot().to_json() == {"Status": "starting", "FailingStreak": 0, "Log": []}


def test_one_success_makes_it_healthy() -> None:
    hc = checker()
    ok(hc, T0 + 30)
    assert hc.status == h.HEALTHY
    assert hc.failing_streak == 0
    assert hc.snapshot().to_json()["Status"] == "healthy"


def test_failures_count_until_retries_then_unhealthy() -> None:
    hc = checker(retries=3)
    fail(hc, T0 + 30)
    assert (hc.status, hc.failing_streak) == (h.STARTING, 1)
    fail(hc, T0 + 60)
    assert (hc.status, hc.failing_streak) == (h.STARTING, 2)
    fail(hc, T0 + 90)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 3)
    fail(hc, T0 + 120)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 4)


def test_healthy_turns_unhealthy_only_after_retries_consecutive_failures() -> None:
    hc = checker(retries=2)
    ok(hc, T0 + 30)
    fail(hc, T0 + 60)
    assert (hc.status, hc.failing_streak) == (h.HEALTHY, 1)
    ok(hc, T0 + 90)  # the streak is broken
    assert (hc.status, hc.failing_streak) == (h.HEALTHY, 0)
    fail(hc, T0 + 120)
    assert (hc.status, hc.failing_streak) == (h.HEALTHY, 1)
    fail(hc, T0 + 150)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 2)


def test_an_unhealthy_container_recovers_with_one_success() -> None:
    hc = checker(retries=1)
    fail(hc, T0 + 30)
    assert hc.status == h.UNHEALTHY
    ok(hc, T0 + 60)
    assert (hc.status, hc.failing_streak) == (h.HEALTHY, 0)


@pytest.mark.parametrize("code", [1, 2, 125, 255, -1])
def test_any_non_zero_exit_is_a_failure(code: int) -> None:
    # Docker: "Failure (including invalid exit code)"; -1 is a probe that timed out.
    hc = checker(retries=1)
    fail(hc, T0 + 30, exit_code=code)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 1)


# -- start period --------------------------------------------------------------------------


def test_failures_in_the_start_period_do_not_count() -> None:
    hc = checker(retries=2, start_period=60, start_interval=5)
    for at in range(5, 60, 5):
        fail(hc, T0 + at)
        assert (hc.status, hc.failing_streak) == (h.STARTING, 0), at
    assert len(hc.log) == 5  # they are still logged


def test_failures_count_once_the_start_period_is_over() -> None:
    hc = checker(retries=2, start_period=60, start_interval=5)
    fail(hc, T0 + 55)
    assert hc.failing_streak == 0
    fail(hc, T0 + 60)  # Docker: timeSinceStart < startPeriod no longer holds
    assert (hc.status, hc.failing_streak) == (h.STARTING, 1)
    fail(hc, T0 + 90)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 2)


def test_in_start_period() -> None:
    hc = checker(start_period=60)
    assert hc.in_start_period(T0)
    assert hc.in_start_period(T0 + 59.9)
    assert not hc.in_start_period(T0 + 60)
    assert not checker().in_start_period(T0)


def test_a_success_in_the_start_period_makes_it_healthy() -> None:
    hc = checker(start_period=60)
    ok(hc, T0 + 5)
    assert hc.status == h.HEALTHY


def test_a_success_ends_the_start_period() -> None:
    # Docker only forgives failures while the status is still "starting": once a probe has
    # succeeded, failures count even before start_period has elapsed.
    hc = checker(retries=3, start_period=300, start_interval=5)
    ok(hc, T0 + 5)
    fail(hc, T0 + 10)
    fail(hc, T0 + 15)
    assert (hc.status, hc.failing_streak) == (h.HEALTHY, 2)
    fail(hc, T0 + 20)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 3)


# -- when to probe -------------------------------------------------------------------------


def test_first_probe_after_one_interval_without_a_start_period() -> None:
    hc = checker(interval=10, start_interval=1)
    assert hc.next_at == T0 + 10


def test_probes_every_interval() -> None:
    hc = checker(interval=10)
    ok(hc, T0 + 10.2)
    assert hc.next_at == pytest.approx(T0 + 20.2)
    fail(hc, T0 + 20.5)
    assert hc.next_at == pytest.approx(T0 + 30.5)


def test_probes_every_start_interval_during_the_start_period() -> None:
    hc = checker(interval=30, start_period=20, start_interval=2)
    assert hc.next_at == T0 + 2
    fail(hc, T0 + 2)
    assert hc.next_at == T0 + 4
    fail(hc, T0 + 19)
    assert hc.next_at == T0 + 21
    fail(hc, T0 + 21)  # the start period is over
    assert hc.next_at == T0 + 51


def test_default_start_interval_is_five_seconds() -> None:
    hc = checker(start_period=60)
    assert hc.next_at == T0 + 5


def test_back_to_interval_after_a_success_in_the_start_period() -> None:
    # Docker's getInterval(): start_interval only while the status is "starting".
    hc = checker(interval=30, start_period=300, start_interval=2)
    ok(hc, T0 + 2)
    assert hc.next_at == T0 + 32


# -- the log -------------------------------------------------------------------------------


def test_log_entries_carry_start_end_exit_code_and_output() -> None:
    hc = checker()
    hc.record("2024-05-01T10:00:00.1Z", "2024-05-01T10:00:00.2Z", 0, "hello\n", now=T0 + 30)
    assert [r.to_json() for r in hc.log] == [
        {
            "Start": "2024-05-01T10:00:00.1Z",
            "End": "2024-05-01T10:00:00.2Z",
            "ExitCode": 0,
            "Output": "hello\n",
        }
    ]
    assert hc.snapshot().to_json()["Log"] == [r.to_json() for r in hc.log]


def test_log_keeps_the_last_five_results_oldest_first() -> None:
    hc = checker(retries=100)
    for n in range(8):
        probe(hc, T0 + 30 * (n + 1), n % 2, f"probe {n}")
    assert h.LOG_ENTRIES == 5
    assert [entry.output for entry in hc.log] == [f"probe {n}" for n in range(3, 8)]
    assert [entry.exit_code for entry in hc.log] == [n % 2 for n in range(3, 8)]
    assert hc.log[-1].start == f"start@{T0 + 240}"


def test_log_output_is_truncated_to_4096_characters() -> None:
    hc = checker()
    probe(hc, T0 + 30, 1, "x" * 10_000)
    output = hc.log[0].output
    # Docker keeps 4096 bytes of output (and marks the cut with "...").
    assert output.startswith("x" * 4096)
    assert len(output) <= 4096 + len("...")
    probe(hc, T0 + 60, 1, "short")
    assert hc.log[1].output == "short"


def test_to_state_keys() -> None:
    hc = checker()
    fail(hc, T0 + 30)
    state = hc.snapshot().to_json()
    assert set(state) == {"Status", "FailingStreak", "Log"}
    assert state["FailingStreak"] == 1
    assert set(state["Log"][0]) == {"Start", "End", "ExitCode", "Output"}


# -- restarts ------------------------------------------------------------------------------


def test_a_restart_starts_over_but_keeps_the_log() -> None:
    # Docker's initHealthMonitor: status back to "starting", FailingStreak 0, log kept.
    hc = checker(retries=1, start_period=10, start_interval=1)
    fail(hc, T0 + 30)
    assert hc.status == h.UNHEALTHY
    later = T0 + 100
    hc.container_started(later)
    assert (hc.status, hc.failing_streak) == (h.STARTING, 0)
    assert len(hc.log) == 1
    assert hc.next_at == later + 1  # a new start period
    fail(hc, later + 5)
    assert (hc.status, hc.failing_streak) == (h.STARTING, 0)


def test_the_start_period_is_judged_when_the_probe_started() -> None:
    # Docker compares result.Start with StartedAt: a slow probe begun inside the start period
    # is forgiven even though it ends after it.
    hc = checker(retries=1, start_period=60, timeout=30)
    hc.record("s", "e", 1, "slow\n", now=T0 + 75, probe_started=T0 + 55)
    assert (hc.status, hc.failing_streak) == (h.STARTING, 0)
    hc.record("s", "e", 1, "late\n", now=T0 + 75, probe_started=T0 + 60)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 1)


def test_without_the_probe_start_the_end_decides() -> None:
    hc = checker(retries=1, start_period=60)
    hc.record("s", "e", 1, "late\n", now=T0 + 75)
    assert (hc.status, hc.failing_streak) == (h.UNHEALTHY, 1)


def test_start_interval_only_while_starting_after_failures_too() -> None:
    # Failures keep the status "starting": the start interval goes on until the period ends.
    hc = checker(interval=30, start_period=20, start_interval=2, retries=1)
    fail(hc, T0 + 2)
    assert (hc.status, hc.next_at) == (h.STARTING, T0 + 4)
    ok(hc, T0 + 4)
    assert hc.next_at == T0 + 34
    fail(hc, T0 + 34)  # past the period and no longer starting: it counts
    assert (hc.status, hc.next_at) == (h.UNHEALTHY, T0 + 64)

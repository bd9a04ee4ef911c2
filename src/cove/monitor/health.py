"""Health checks as Docker runs them: when to probe, and what a result does to the status."""

from __future__ import annotations

import time

from cove.containers.state import HEALTH_LOG_ENTRIES, HEALTH_OUTPUT_MAX, Health, HealthResult, HealthStatus
from cove.monitor.config import ProbeConfig

STARTING = HealthStatus.STARTING
HEALTHY = HealthStatus.HEALTHY
UNHEALTHY = HealthStatus.UNHEALTHY
LOG_ENTRIES = HEALTH_LOG_ENTRIES
MAX_OUTPUT = HEALTH_OUTPUT_MAX

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_START_INTERVAL = 5.0


def probe_command(test: list[str]) -> list[str] | None:
    """The argv to run in the container for a HEALTHCHECK test, or None when disabled."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return test[1:] or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return test  # a bare command list, as some tools write it


class HealthChecker:
    def __init__(self, config: ProbeConfig) -> None:
        self.command = probe_command(list(config.test))
        self.interval = float(config.interval or DEFAULT_INTERVAL)
        self.timeout = float(config.timeout or DEFAULT_TIMEOUT)
        self.retries = int(config.retries or DEFAULT_RETRIES)
        self.start_period = float(config.start_period or 0.0)
        self.start_interval = float(config.start_interval or DEFAULT_START_INTERVAL)
        self.status = STARTING
        self.failing_streak = 0
        self.log: list[HealthResult] = []
        self.started = 0.0
        self.next_at = 0.0

    @property
    def enabled(self) -> bool:
        return self.command is not None

    def in_start_period(self, now: float) -> bool:
        return now - self.started < self.start_period

    def container_started(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.started = now
        self.status = STARTING
        self.failing_streak = 0
        self.next_at = now + self._delay(now)

    def _still_starting(self, now: float) -> bool:
        # Docker's start period ends at the first success as well as when it elapses: it
        # forgives failures and probes every start_interval only while the status is "starting".
        return self.status == STARTING and self.in_start_period(now)

    def _delay(self, now: float) -> float:
        return self.start_interval if self._still_starting(now) else self.interval

    def record(
        self,
        start: str,
        end: str,
        exit_code: int,
        output: str,
        now: float | None = None,
        *,
        probe_started: float | None = None,
    ) -> None:
        """Record a probe's result; ``now`` is when it ended and ``probe_started`` when it began
        (monotonic seconds; it defaults to ``now``)."""
        now = time.monotonic() if now is None else now
        probe_started = now if probe_started is None else probe_started
        self.log = [*self.log, HealthResult(start, end, exit_code, output[:MAX_OUTPUT])][-LOG_ENTRIES:]
        if exit_code == 0:
            self.status = HEALTHY
            self.failing_streak = 0
        elif not self._still_starting(probe_started):
            # Docker judges the start period at the probe's start (result.Start - StartedAt):
            # a slow probe begun inside the period is forgiven even if it ends after it.
            self.failing_streak += 1
            if self.failing_streak >= self.retries:
                self.status = UNHEALTHY
        self.next_at = now + self._delay(now)

    def snapshot(self) -> Health:
        return Health(self.status, self.failing_streak, tuple(self.log))

    def restore(self, health: Health) -> None:
        """Take up where another monitor's checker was (see handover)."""
        self.status = health.status
        self.failing_streak = health.failing_streak
        self.log = list(health.log)

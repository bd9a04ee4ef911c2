"""Docker's restart policies, and the back-off between restarts: pure decisions, no I/O.

The policy is (name, max_retries) as ``--restart`` gives it. Docker's daemon doubles the
delay after each quick exit (from 100 ms, at most a minute) and starts over once a run
lasted ten seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

NO = "no"
ALWAYS = "always"
UNLESS_STOPPED = "unless-stopped"
ON_FAILURE = "on-failure"
POLICIES = (NO, ALWAYS, UNLESS_STOPPED, ON_FAILURE)

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_BACKOFF_AFTER = 10.0


@dataclass(frozen=True)
class RestartRule:
    name: str = NO
    max_retries: int = 0  # on-failure only; 0: no limit

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"unknown restart policy {self.name!r}")
        if self.max_retries < 0:
            raise ValueError("max_retries cannot be negative")

    def should_restart(self, exit_code: int, *, restarts: int, manual_stop: bool) -> bool:
        """After an exit with ``exit_code`` and ``restarts`` restarts so far: restart it?"""
        if manual_stop:
            return False
        if self.name in (ALWAYS, UNLESS_STOPPED):
            return True
        if self.name == ON_FAILURE and exit_code != 0:
            return self.max_retries <= 0 or restarts < self.max_retries
        return False


@dataclass
class Backoff:
    """The delay before the next restart."""

    delay: float = BACKOFF_START
    start: float = BACKOFF_START
    maximum: float = BACKOFF_MAX
    reset_after: float = RESET_BACKOFF_AFTER

    def after_run(self, ran: float) -> float:
        """The delay after a run that lasted ``ran`` seconds (and remember it for the next)."""
        self.delay = self.start if ran >= self.reset_after else min(self.delay * 2, self.maximum)
        return self.delay

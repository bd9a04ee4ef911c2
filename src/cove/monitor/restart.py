"""The back-off between restarts: a pure decision, no I/O (whether to restart at all is the
policy's: cove.policies.RestartPolicy.should_restart).

Docker's daemon doubles the delay after each quick exit (from 100 ms, at most a minute) and
starts over once a run lasted ten seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_BACKOFF_AFTER = 10.0


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

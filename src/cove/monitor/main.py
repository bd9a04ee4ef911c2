"""The monitor's entry point: ``python -S -I <this file> CONFIG READY_FD`` (or ``CONFIG --adopt FILE``
when a forked monitor replaces itself with this lean process).

Isolated mode keeps the interpreter lean: no site-packages, no environment. The package
directory is put on the path by hand, and only standard-library modules are imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cove.monitor.supervisor import Supervisor


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 3 and sys.argv[2] == "--adopt":
        handover_path = Path(sys.argv[3])
        handover = json.loads(handover_path.read_text())
        handover_path.unlink()
        return Supervisor(config, None).run(adopted=handover)
    ready_fd = int(sys.argv[2]) if len(sys.argv) > 2 else None
    return Supervisor(config, ready_fd).run()


if __name__ == "__main__":
    sys.exit(main())

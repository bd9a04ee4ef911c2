"""The monitor's entry point: ``python -S -I <this file> CONFIG READY_FD`` (or ``CONFIG --adopt FILE``
when a forked monitor replaces itself with this lean process).

Isolated mode keeps the interpreter lean: no site-packages, no environment. The package
directory is put on the path by hand, and only standard-library modules are imported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cove.monitor.config import ConfigError, MonitorConfig
from cove.monitor.handover import Handover, HandoverError
from cove.monitor.supervisor import Supervisor


def main() -> int:
    ready_fd = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else None
    try:
        config = MonitorConfig.load(Path(sys.argv[1]))
        adopted = Handover.take(Path(sys.argv[3])) if len(sys.argv) > 3 and sys.argv[2] == "--adopt" else None
    except (ConfigError, HandoverError) as exc:
        print(exc, file=sys.stderr, flush=True)
        if ready_fd is not None:
            os.write(ready_fd, (json.dumps({"ok": False, "error": str(exc)}) + "\n").encode())
        return 1
    if adopted is not None:
        return Supervisor(config, None).run(adopted=adopted)
    return Supervisor(config, ready_fd).run()


if __name__ == "__main__":
    sys.exit(main())

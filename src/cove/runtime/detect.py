"""Choosing the OCI runtime that works on this host: crun where it can, runc otherwise.

Presence is not enough (Debian's crun 1.8 refuses hybrid cgroup layouts, for one), so
each candidate runs a tiny real container: busybox's ``true``, bind-mounted from the host,
with the same cgroup, namespace and seccomp settings as every container.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cove.host import cgroups
from cove.host.elf import is_static
from cove.host.runner import Runner
from cove.runtime import caps as capabilities
from cove.runtime import seccomp
from cove.runtime import spec as oci
from cove.runtime.oci import RuntimeInfo, error_from_log

CANDIDATES = ("crun", "runc")
SEARCH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PROBE_BINARIES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


@dataclass
class Detection:
    chosen: RuntimeInfo | None
    found: list[RuntimeInfo] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # name -> why


def find(name: str) -> str | None:
    path = shutil.which(name)
    if path:
        return path
    for directory in SEARCH_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    return None


def info_of(name: str, path: str, runner: Runner) -> RuntimeInfo:
    result = runner.run([path, "--version"], check=False)
    first = result.stdout.decode(errors="replace").strip().splitlines()[:1]
    version = first[0].split()[-1] if first else "unknown"
    return RuntimeInfo(name, path, version)


def probe(info: RuntimeInfo, runner: Runner, work: Path) -> str | None:
    """None when ``info`` runs a container here; otherwise its error."""
    helper = next((p for p in PROBE_BINARIES if p.exists() and is_static(p)), None)
    if helper is None:
        return None  # nothing static to run: trust the runtime (containers will tell)
    bundle = work / f"probe-{info.name}"
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    cid = f"cove-probe-{secrets.token_hex(6)}"
    version = cgroups.version()
    spec = oci.base_spec(
        rootfs=str(rootfs), hostname="probe", cgroups_path=f"/cove/{cid}", cgroup_version=version
    )
    oci.with_process(spec, args=["/busybox", "true"], env=["PATH=/"], cwd="/", uid=0, gid=0)
    caps = list(capabilities.DEFAULT_CAPS)
    oci.with_capabilities(spec, caps)
    oci.with_seccomp(spec, seccomp.default_profile(caps))
    oci.with_mounts(
        spec, [{"destination": "/busybox", "type": "bind", "source": str(helper), "options": ["rbind", "ro"]}]
    )
    (bundle / "config.json").write_text(json.dumps(spec))
    state = work / "state"
    log = work / f"{info.name}.log"
    argv = [
        info.path,
        "--root",
        str(state),
        "--log",
        str(log),
        "--log-format",
        "json",
        "run",
        "--bundle",
        str(bundle),
        cid,
    ]
    result = runner.run(argv, check=False)
    runner.run([info.path, "--root", str(state), "delete", "--force", cid], check=False)
    if result.returncode == 0:
        return None
    return error_from_log(log, result.stderr.decode(errors="replace") or f"exit status {result.returncode}")


def detect(runner: Runner, preferred: str | None = None) -> Detection:
    names = [preferred] if preferred else list(CANDIDATES)
    detection = Detection(None)
    with tempfile.TemporaryDirectory(prefix="cove-runtime-probe-") as tmp:
        for name in names:
            path = find(name) if "/" not in name else name
            if path is None:
                detection.rejected[name] = "not installed"
                continue
            info = info_of(Path(path).name, path, runner)
            detection.found.append(info)
            error = probe(info, runner, Path(tmp))
            if error is None:
                detection.chosen = info
                break
            detection.rejected[info.name] = error
    return detection

"""A client for OCI runtime binaries (crun, runc): argv for each verb, and their JSON logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from cove.errors import InternalError
from cove.host.runner import CommandFailed, Runner


class RuntimeInfo(NamedTuple):
    name: str  # crun or runc
    path: str
    version: str


class RuntimeFailure(InternalError):
    """A runtime command failed; the message is the runtime's own error, one line."""


def error_from_log(log: Path, fallback: str = "") -> str:
    """The last error a runtime wrote to its JSON log (``--log-format json``)."""
    message = ""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            message = str(entry.get("msg", ""))
    if message:
        return message
    return _last_line(fallback)


class OciRuntime:
    def __init__(self, info: RuntimeInfo, state_root: Path, runner: Runner) -> None:
        self.info = info
        self.state_root = state_root
        self.runner = runner

    def argv(self, *args: str, log: Path | None = None) -> list[str]:
        out = [self.info.path, "--root", str(self.state_root)]
        if log is not None:
            out += ["--log", str(log), "--log-format", "json"]
        return out + list(args)

    def run_detached_argv(
        self, cid: str, bundle: Path, pid_file: Path, log: Path, console_socket: Path | None = None
    ) -> list[str]:
        """Create and start in one go; the container's init is left running (and reparented)."""
        args = ["run", "--detach", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        return self.argv(*args, cid, log=log)

    def exec_argv(
        self,
        cid: str,
        process_file: Path,
        *,
        detach: bool = False,
        tty: bool = False,
        pid_file: Path | None = None,
        log: Path | None = None,
    ) -> list[str]:
        args = ["exec", "--process", str(process_file)]
        if detach:
            args.append("--detach")
        if tty:
            args.append("--tty")
        if pid_file is not None:
            args += ["--pid-file", str(pid_file)]
        return self.argv(*args, cid, log=log)

    def _run(self, *args: str, log: Path | None = None) -> str:
        try:
            result = self.runner.run(self.argv(*args, log=log))
        except CommandFailed as exc:
            detail = exc.result.stderr.decode(errors="replace")
            raise RuntimeFailure(error_from_log(log, detail) if log else _last_line(detail)) from None
        return result.stdout.decode(errors="replace")

    def start(self, cid: str, log: Path | None = None) -> None:
        self._run("start", cid, log=log)

    def kill(self, cid: str, signal: int, *, all_processes: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_processes else []) + [cid, str(signal)]
        self._run(*args)

    def delete(self, cid: str, *, force: bool = False) -> None:
        self._run("delete", *(["--force"] if force else []), cid)

    def state(self, cid: str) -> dict[str, Any] | None:
        """The runtime's view of the container, or None when it does not know it."""
        result = self.runner.run(self.argv("state", cid), check=False)
        if result.returncode != 0:
            return None
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def pause(self, cid: str) -> None:
        self._run("pause", cid)

    def resume(self, cid: str) -> None:
        self._run("resume", cid)

    def update(self, cid: str, resources_file: Path) -> None:
        self._run("update", "--resources", str(resources_file), cid)

    def stats(self, cid: str) -> dict[str, Any]:
        """One sample of the container's cgroup statistics (``events --stats``)."""
        try:
            data = json.loads(self._run("events", "--stats", cid) or "{}")
        except ValueError:
            raise RuntimeFailure(f"the runtime's statistics of {cid[:12]} are not JSON") from None
        stats = data.get("data", {}) if isinstance(data, dict) else {}
        return stats if isinstance(stats, dict) else {}  # (its sections are missing: unknown)

    def pids(self, cid: str) -> list[int]:
        out = self._run("ps", "--format", "json", cid)
        try:
            pids = json.loads(out or "[]")
        except json.JSONDecodeError:
            return []
        return [int(p) for p in pids or []]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"

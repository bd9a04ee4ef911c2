"""``cove exec``: a process run in a running container through the runtime."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cove.containers.diagnose import StartFailure, explain, preflight
from cove.containers.state import Status
from cove.containers.users import resolve_user
from cove.engine.container_files import container_files
from cove.engine.containers import ContainerService, ContainerStartError
from cove.errors import Conflict, InvalidArgument
from cove.host.seam import Host
from cove.runtime.oci import error_from_log

RUNTIME_FAILED = 255  # what the runtime exits with when it could not start the process


class ExecSession:
    """A process started with ``runc exec`` in the foreground: wait for its exit code."""

    def __init__(
        self, host: Host, pid: int, process_file: Path, log: Path, explain: Callable[[str], StartFailure]
    ) -> None:
        self._host = host
        self.pid = pid
        self._process_file = process_file
        self._log = log
        self._explain = explain

    def wait(self) -> int:
        """The process's exit code; a runtime failure to start it raises, with Docker's 126/127."""
        code = self._host.wait(self.pid)
        error = error_from_log(self._log) if code == RUNTIME_FAILED and self._log.exists() else ""
        self._process_file.unlink(missing_ok=True)
        self._log.unlink(missing_ok=True)
        if error:
            failure = self._explain(error)
            raise ContainerStartError(failure.message, failure.exit_code)
        return code


class Executor:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def exec(
        self,
        ref: str,
        argv: list[str],
        *,
        tty: bool = False,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        detach: bool = False,
        stdin: int | None = None,
        stdout: int = 1,
        stderr: int = 2,
    ) -> ExecSession | None:
        """Run ``argv`` in a running container; None for --detach, else a session to wait on."""
        container = self.c.get(ref)
        record, status = container.record, container.status
        if status.status == Status.PAUSED:
            raise Conflict(f"container {record.id[:12]} is paused, unpause the container before exec")
        if not status.running:
            raise Conflict(f"container {record.id[:12]} is not running")
        if not argv:
            raise InvalidArgument("exec needs a command")
        directory = self.c.dir(record.id)
        spec = json.loads((directory / "bundle" / "config.json").read_text())
        proc: dict[str, Any] = spec["process"]
        proc["args"] = argv
        tty = tty and not detach  # a detached process has nobody to hand a terminal to
        proc["terminal"] = tty
        merged = {e.partition("=")[0]: e for e in proc.get("env", [])}
        for item in env or []:
            merged[item.partition("=")[0]] = item
        if tty:
            merged.setdefault("TERM", "TERM=xterm")
        proc["env"] = list(merged.values())
        if workdir:
            proc["cwd"] = workdir
        if privileged:
            every = list(self.c.layout.known_caps())
            proc["capabilities"] = {"bounding": every, "effective": every, "permitted": every}
        path_env = next((e[5:] for e in proc["env"] if e.startswith("PATH=")), "")
        # The container runs, so its files are seen here as it sees them (mounts included): the
        # user is looked up, and the program checked before the runtime does, for a message
        # that names the cause.
        with container_files(self.c, record, status) as files:
            if user is not None:
                resolved = resolve_user(user, files)
                proc["user"] = {"uid": resolved.uid, "gid": resolved.gid}
                if resolved.additional_gids:
                    proc["user"]["additionalGids"] = list(resolved.additional_gids)
            problem = preflight(files, argv, path_env, missing_is_error=True)
        if problem is not None:
            raise ContainerStartError(problem.message, problem.exit_code)
        token = secrets.token_hex(6)
        process_file = directory / f"exec-{token}.json"
        process_file.write_text(json.dumps(proc))
        log = directory / f"exec-{token}.log"
        runtime = self.c.runtime_of(record)
        host = self.store.host
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            if detach:
                argv_ = runtime.exec_argv(record.id, process_file, detach=True)
                pid = host.spawn(argv_, stdin=devnull, stdout=devnull, stderr=devnull)
                code = host.wait(pid)
                process_file.unlink(missing_ok=True)
                if code != 0:
                    raise Conflict(f"exec failed in container {record.id[:12]}")
                return None
            # With a terminal, the runtime itself allocates the pty and copies between it and our
            # stdio (raw mode and window size included), so it runs in the foreground either way.
            argv_ = runtime.exec_argv(record.id, process_file, tty=tty, log=log)
            pid = host.spawn(argv_, stdin=devnull if stdin is None else stdin, stdout=stdout, stderr=stderr)

            def explain_failure(message: str) -> StartFailure:
                with container_files(self.c, record, self.c.state(record.id)) as files:
                    return explain(message, files, argv, path_env)

            return ExecSession(host, pid, process_file, log, explain_failure)
        finally:
            os.close(devnull)
